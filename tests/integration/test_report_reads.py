"""What a worker's report reads: with no pruner, nothing of the study's other reports.

The report route used to read every report of the study at or below the step, for every
pruner, `none` included: work and transient memory that grew with the study's history on each
report (at 64 workers, part of the API's RSS growth under load, issue 6).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from hpo.service import Service
from hpo.spec import parse_study_spec
from hpo.storage import Database

pytestmark = pytest.mark.integration

# A SELECT whose FROM or JOIN names the reports table (the report's own INSERT is not a read).
_READS_REPORTS = re.compile(r"^\s*SELECT\b.*\b(FROM|JOIN)\s+reports\b", re.IGNORECASE | re.DOTALL)


def _spec(pruner: str) -> Any:
    return parse_study_spec(
        {
            "name": f"reads-{pruner}",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 3},
            "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
            "sampler": "random",
            "pruner": pruner,
            "budget": {"n_trials": 100, "max_parallel": 4},
        }
    )


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    """The SQL the engine sends while the block runs (a real event hook, no stand-in)."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])  # (conn, cursor, statement, parameters, context, executemany)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def _reads_on_report(db: Database, pruner: str) -> list[str]:
    service = Service(db, prepare_suggestions=False)
    service.studies.create(_spec(pruner))
    for i in range(5):  # a history of finished trials with reports at step 1
        lease = service.dispatch.claim(f"w{i}")
        assert lease is not None
        service.dispatch.report(lease.trial_id, lease.lease_token, 1, 0.5 + i / 10)
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5 + i / 10)
    lease = service.dispatch.claim("w-last")
    assert lease is not None
    with _statements(db) as seen:
        assert service.dispatch.report(lease.trial_id, lease.lease_token, 1, 0.9) is False
    return [s for s in seen if _READS_REPORTS.search(s)]


def test_a_report_without_pruner_reads_no_reports(db: Database) -> None:
    assert _reads_on_report(db, "none") == []


def test_a_report_with_a_pruner_still_reads_the_reports_it_decides_on(db: Database) -> None:
    # The check above would pass vacuously if the hook saw nothing: ASHA must read them.
    assert _reads_on_report(db, "asha") != []
