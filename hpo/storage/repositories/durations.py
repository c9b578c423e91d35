"""Training time: the summed durations of a study's trials (its time budget), and the running
trials past a study's per-trial limit.

A duration is `finished_at - started_at` of the trial's latest attempt, or `now - started_at`
while it runs. The subtraction is spelled per backend (PostgreSQL: an interval's epoch;
SQLite: Julian days, as it stores timestamps as text), inside one aggregate, so a study with a
time budget costs one index range scan per check, not a row per trial in Python.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, select
from sqlalchemy.orm import Session

from hpo.states import TrialState
from hpo.storage._types import UtcDateTime
from hpo.storage.models import Study, Trial

# Queued trials are left out: a requeued trial's lost attempt is not counted (its start is
# overwritten by the next claim).
_TIMED = (TrialState.RUNNING, TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)


def _seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def training_seconds(session: Session, study_id: int, now: datetime) -> float:
    """The study's summed training time in seconds: finished trials' durations plus the
    running ones' so far."""
    dialect = session.connection().dialect.name
    end = func.coalesce(Trial.finished_at, bindparam("now", now, type_=UtcDateTime()))
    total = session.execute(
        select(func.coalesce(func.sum(_seconds_between(dialect, Trial.started_at, end)), 0.0))
        .where(Trial.study_id == study_id, Trial.state.in_(_TIMED))
        .where(Trial.started_at.is_not(None))
    ).scalar_one()
    return max(0.0, float(total))


def running_with_time_limit(session: Session) -> list[tuple[Trial, float]]:
    """Running trials of studies with a per-trial time limit, each with that limit (what the
    reaper checks; running trials are at most max_parallel per study), locked; one a request
    holds right now is skipped (that request checks the limit itself, or the next reap)."""
    rows = session.execute(
        select(Trial, Study.max_trial_seconds)
        .join(Study, Study.id == Trial.study_id)
        .where(Trial.state == TrialState.RUNNING, Study.max_trial_seconds.is_not(None))
        .with_for_update(of=Trial, skip_locked=True)
    ).all()
    return [(trial, float(limit or 0.0)) for trial, limit in rows]
