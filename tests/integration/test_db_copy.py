"""`hpo db copy` on real databases: SQLite -> PostgreSQL -> SQLite equal (studies, trials,
reports, a comparison and its final results, ids remapped), a non-empty target refused
without --append, and a copy failing mid-way leaving the target as it was."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hpo.comparison_spec import parse_comparison_spec
from hpo.errors import ConflictError, NotFoundError
from hpo.interop.db_copy import copy_studies, study_checksum
from hpo.interop.studies_io import export_json
from hpo.service import Service
from hpo.service.comparisons import FinalResult
from hpo.storage import Database, Study, create_engine_for, migrate
from hpo.storage.models import Comparison, Report, Trial
from tests.integration.conftest import PostgresDatabases
from tests.integration.interop_studies import SPACE, run_study, study_spec

pytestmark = pytest.mark.integration


def _open(url: str) -> Database:
    return Database(create_engine_for(url, sqlite_busy_timeout_s=10.0))


@pytest.fixture
def source(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A SQLite database with two studies and a comparison of two studies, all run."""
    path = tmp_path / "source.db"
    shutil.copyfile(sqlite_template, path)
    db = _open(f"sqlite:///{path}")
    service = Service(db, prepare_suggestions=False)
    run_study(service)
    run_study(service, study_spec(name="second", sampler="qmc"))
    comparison = service.comparisons.create(
        parse_comparison_spec(
            {
                "name": "cmp",
                "task": {"model": "mlp", "dataset": "digits", "direction": "maximize"},
                "space": SPACE,
                "samplers": ["random"],
                "n_trials": 3,
                "repeats": 2,
                "max_parallel": 1,
                "check_config": False,
            }
        )
    )
    while (lease := service.dispatch.claim("w")) is not None:
        service.dispatch.report(lease.trial_id, lease.lease_token, 0, 0.25)
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5 + lease.number / 10)
    member = comparison.studies[0]
    best = service.studies.get(member.id).best
    assert best is not None
    service.comparisons.record_final(
        comparison.id,
        "random",
        FinalResult(test_metric=0.9, seeds=(0,), study_id=member.id, trial_id=best.id),
    )
    yield db
    db.dispose()


@pytest.fixture
def pg_url(pg_databases: PostgresDatabases) -> str:
    """An empty PostgreSQL database: no tables (the copy migrates it)."""
    return pg_databases.url(pg_databases.create())


def _documents(db: Database) -> list[dict[str, Any]]:
    """Every study as its JSON export, ids and times of export left out, by name and seed."""
    with db.transaction(write=False) as session:
        ids = list(session.scalars(select(Study.id).order_by(Study.id)))
    out = []
    for study_id in ids:
        document = export_json(db, study_id)
        study = {k: v for k, v in document["study"].items() if k != "id"}
        trials = [{k: v for k, v in t.items() if k != "id"} for t in document["trials"]]
        out.append({"study": study, "trials": trials})
    return sorted(out, key=lambda d: (d["study"]["name"], d["study"]["created_at"]))


def _counts(session: Session) -> tuple[int, ...]:
    return tuple(
        int(session.scalar(select(func.count()).select_from(model)) or 0)
        for model in (Study, Trial, Report, Comparison)
    )


def _finals(db: Database) -> list[tuple[str, int, int]]:
    """Each comparison's final results as (study name, trial number, study's comparison
    matches): what the ids in `final` must still point to after remapping."""
    out = []
    with db.transaction(write=False) as session:
        for comparison in session.scalars(select(Comparison)):
            for record in comparison.final.values():
                study = session.get(Study, record["study_id"])
                trial = session.get(Trial, record["trial_id"])
                assert study is not None and trial is not None
                assert study.comparison_id == comparison.id and trial.study_id == study.id
                out.append((study.name, trial.number, study.seed or 0))
    return sorted(out)


def test_sqlite_to_postgresql_to_sqlite_is_equal(
    source: Database, pg_url: str, tmp_path: Path
) -> None:
    middle = _open(pg_url)
    back = _open(f"sqlite:///{tmp_path / 'back.db'}")
    try:
        first = copy_studies(source, middle)
        second = copy_studies(middle, back)
        assert len(first.studies) == len(second.studies) == 4
        assert len(first.comparisons) == len(second.comparisons) == 1
        assert sorted(c.checksum for c in first.studies) == sorted(
            c.checksum for c in second.studies
        )
        expected = _documents(source)
        assert _documents(middle) == expected
        assert _documents(back) == expected
        assert _finals(middle) == _finals(source) == _finals(back)
        with source.transaction(write=False) as s, back.transaction(write=False) as b:
            assert _counts(s) == _counts(b)
            in_middle = {c.source_id: c.target_id for c in first.studies}[1]
            in_back = {c.source_id: c.target_id for c in second.studies}[in_middle]
            assert study_checksum(s, 1) == study_checksum(b, in_back)
    finally:
        middle.dispose()
        back.dispose()


def test_a_non_empty_target_needs_append_and_a_study_may_be_chosen(
    source: Database, pg_url: str
) -> None:
    target = _open(pg_url)
    try:
        copy_studies(source, target, study_ids=[2])
        with pytest.raises(ConflictError, match="pass --append"):
            copy_studies(source, target, study_ids=[2])
        report = copy_studies(source, target, study_ids=[2, 3], append=True)
        # Study 3 belongs to the comparison: its sibling travels with it.
        assert [c.source_id for c in report.studies] == [3, 4, 2]
        with target.transaction(write=False) as session:
            assert _counts(session)[0] == 4 and _counts(session)[3] == 1
        with pytest.raises(NotFoundError, match="no study 99"):
            copy_studies(source, target, study_ids=[99], append=True)
    finally:
        target.dispose()


@pytest.mark.parametrize("append", [False, True])
def test_an_interrupted_copy_leaves_the_target_as_it_was(
    source: Database, pg_url: str, append: bool
) -> None:
    target = _open(pg_url)
    try:
        if append:
            copy_studies(source, target, study_ids=[1])
        else:
            migrate(target.engine)  # the schema a copy makes first stays: the rows do not
        with target.transaction(write=False) as session:
            before = _counts(session)
        units = []

        def fail_at_the_second_unit(session: Session) -> None:
            units.append(session)
            if len(units) == 2:
                raise KeyboardInterrupt  # as a Ctrl-C in the middle of the copy

        with pytest.raises(KeyboardInterrupt):
            copy_studies(source, target, append=True, after_unit=fail_at_the_second_unit)
        with target.transaction(write=False) as session:
            assert _counts(session) == before
    finally:
        target.dispose()


def test_a_source_of_another_schema_revision_is_refused(tmp_path: Path, pg_url: str) -> None:
    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(old_url, revision="20261202_0005")  # before imported trials
    old, target = _open(old_url), _open(pg_url)
    try:
        with pytest.raises(
            ConflictError, match="source database is at schema revision 20261202_0005"
        ):
            copy_studies(old, target)
    finally:
        old.dispose()
        target.dispose()
