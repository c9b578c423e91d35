"""Read-only queries behind the web UI's plots: narrow columns over a study's trials, so a
study of 10 000 trials is read without loading its params, metrics or ORM objects."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hpo.states import Direction, TrialState
from hpo.storage.models import Report, Trial

FINISHED_STATES = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)

# SQLite's default cap on bound parameters is 32 766; stay far below it per IN (...) query.
_IN_CHUNK = 900


def finished_trial_columns(
    session: Session, study_id: int
) -> list[tuple[int, TrialState, float | None, float | None]]:
    """(number, state, value, last_report_value) of every finished trial, by number."""
    statement = (
        select(Trial.number, Trial.state, Trial.value, Trial.last_report_value)
        .where(Trial.study_id == study_id, Trial.state.in_(FINISHED_STATES))
        .order_by(Trial.number)
    )
    return [(n, s, v, r) for n, s, v, r in session.execute(statement)]


def infeasible_numbers(session: Session, study_id: int) -> set[int]:
    """Numbers of the study's completed trials that broke a constraint."""
    statement = select(Trial.number).where(Trial.study_id == study_id, Trial.feasible.is_(False))
    return set(session.scalars(statement))


def completed_values(session: Session, study_id: int) -> list[tuple[int, float]]:
    """(number, value) of every completed trial with a value, by number."""
    statement = (
        select(Trial.number, Trial.value)
        .where(
            Trial.study_id == study_id,
            Trial.state == TrialState.COMPLETED,
            Trial.value.is_not(None),
        )
        .order_by(Trial.number)
    )
    return [(n, float(v)) for n, v in session.execute(statement) if v is not None]


def params_of(session: Session, study_id: int, numbers: Sequence[int]) -> dict[int, dict[str, Any]]:
    """number -> params for the given trial numbers of a study."""
    out: dict[int, dict[str, Any]] = {}
    for start in range(0, len(numbers), _IN_CHUNK):
        chunk = list(numbers[start : start + _IN_CHUNK])
        statement = select(Trial.number, Trial.params).where(
            Trial.study_id == study_id, Trial.number.in_(chunk)
        )
        out.update({n: dict(p) for n, p in session.execute(statement)})
    return out


def latest_completed(
    session: Session, study_id: int, limit: int
) -> list[tuple[dict[str, Any], float]]:
    """(params, value) of the `limit` most recent completed trials (by number)."""
    statement = (
        select(Trial.params, Trial.value)
        .where(
            Trial.study_id == study_id,
            Trial.state == TrialState.COMPLETED,
            Trial.value.is_not(None),
        )
        .order_by(Trial.number.desc())
        .limit(limit)
    )
    return [(dict(p), float(v)) for p, v in session.execute(statement)]


def count_started(session: Session, study_id: int) -> int:
    statement = (
        select(func.count())
        .select_from(Trial)
        .where(Trial.study_id == study_id, Trial.started_at.is_not(None))
    )
    return session.scalar(statement) or 0


def latest_started(
    session: Session, study_id: int, limit: int
) -> list[tuple[int, TrialState, str | None, datetime, datetime | None]]:
    """(number, state, worker_id, started_at, finished_at) of the `limit` trials that started
    last, in start order."""
    statement = (
        select(Trial.number, Trial.state, Trial.worker_id, Trial.started_at, Trial.finished_at)
        .where(Trial.study_id == study_id, Trial.started_at.is_not(None))
        .order_by(Trial.started_at.desc(), Trial.number.desc())
        .limit(limit)
    )
    rows = [(n, s, w, st, f) for n, s, w, st, f in session.execute(statement) if st is not None]
    rows.reverse()
    return rows


def best_reporting_trials(
    session: Session, study_id: int, direction: Direction, limit: int
) -> list[tuple[int, int, TrialState]]:
    """(id, number, state) of the best completed trials that reported intermediate values."""
    order = Trial.value.asc() if Direction(direction) is Direction.MINIMIZE else Trial.value.desc()
    statement = (
        select(Trial.id, Trial.number, Trial.state)
        .where(
            Trial.study_id == study_id,
            Trial.state == TrialState.COMPLETED,
            Trial.value.is_not(None),
            Trial.last_step.is_not(None),
        )
        .order_by(order, Trial.number)
        .limit(limit)
    )
    return [(i, n, s) for i, n, s in session.execute(statement)]


def latest_reporting_trials(
    session: Session, study_id: int, limit: int
) -> list[tuple[int, int, TrialState]]:
    """(id, number, state) of the most recent trials (by number) that reported, in any state."""
    statement = (
        select(Trial.id, Trial.number, Trial.state)
        .where(Trial.study_id == study_id, Trial.last_step.is_not(None))
        .order_by(Trial.number.desc())
        .limit(limit)
    )
    return [(i, n, s) for i, n, s in session.execute(statement)]


def count_reporting_trials(session: Session, study_id: int) -> int:
    statement = (
        select(func.count())
        .select_from(Trial)
        .where(Trial.study_id == study_id, Trial.last_step.is_not(None))
    )
    return session.scalar(statement) or 0


def reports_of(session: Session, trial_ids: Iterable[int]) -> dict[int, list[tuple[int, float]]]:
    """trial id -> [(step, value), ...] by step, for the given trials."""
    ids = list(trial_ids)
    grouped: dict[int, list[tuple[int, float]]] = {i: [] for i in ids}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        statement = (
            select(Report.trial_id, Report.step, Report.value)
            .where(Report.trial_id.in_(chunk))
            .order_by(Report.trial_id, Report.step)
        )
        for trial_id, step, value in session.execute(statement):
            grouped[trial_id].append((step, value))
    return grouped
