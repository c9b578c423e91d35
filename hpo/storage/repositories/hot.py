"""The claim's and the complete's statements, built once, run as SQLAlchemy Core on the
session's connection.

These run on every claim and every complete, so they skip what the ORM adds per call: building
the `select()` (operator coercions), the session's execute and identity map, the unit of work
of a flush. Measured on bench/dispatch_throughput.py, those were most of the server's CPU per
request. Rows come back as `Row`s whose attributes carry the columns' names and types (enums
and datetimes included), so `TrialView.of` and `to_observation` read them like ORM objects.
Everything else (errors, retries, rare branches) stays in the ORM repositories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import Row, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from hpo.storage.models import Study, StudyState, Trial, TrialState

# A row of any shape (SQLAlchemy 2.1 types rows by their columns).
TrialRow: TypeAlias = Row[*tuple[Any, ...]]

_T = cast(Table, Trial.__table__)
_S = cast(Table, Study.__table__)

_TOP_NUMBER = select(func.max(_T.c.number)).where(_T.c.study_id == bindparam("sid"))

_ACTIVE = (
    select(_T.c.id, _T.c.number, _T.c.state)
    .where(
        _T.c.study_id == bindparam("sid"),
        _T.c.state.in_((TrialState.QUEUED, TrialState.RUNNING)),
    )
    .order_by(_T.c.number)
)

# What `to_observation` reads of a finished trial, plus its number.
_OBSERVED = (
    _T.c.id,
    _T.c.number,
    _T.c.params,
    _T.c.state,
    _T.c.value,
    _T.c.last_report_value,
    _T.c.failure_class,
)
_FINISHED = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)
_FINISHED_ABOVE = (
    select(*_OBSERVED)
    .where(
        _T.c.study_id == bindparam("sid"),
        _T.c.state.in_(_FINISHED),
        _T.c.number > bindparam("top"),
    )
    .order_by(_T.c.finished_at, _T.c.id)
)
_FINISHED_ABOVE_OR_IN = (
    select(*_OBSERVED)
    .where(
        _T.c.study_id == bindparam("sid"),
        _T.c.state.in_(_FINISHED),
        (_T.c.number > bindparam("top")) | _T.c.id.in_(bindparam("ids", expanding=True)),
    )
    .order_by(_T.c.finished_at, _T.c.id)
)
_PARAMS_OF = select(_T.c.id, _T.c.params).where(_T.c.id.in_(bindparam("ids", expanding=True)))

_INSERT_RUNNING = insert(_T).returning(_T.c.id)

_LEASE_OF = (
    select(_T.c.lease_token, _T.c.state, _T.c.study_id)
    .where(_T.c.id == bindparam("tid"))
    .with_for_update()
)
_COMPLETE = (
    update(_T)
    .where(_T.c.id == bindparam("tid"))
    .values(
        state=TrialState.COMPLETED,
        value=bindparam("b_value"),
        metrics=bindparam("b_metrics"),
        finished_at=bindparam("b_finished_at"),
        lease_expires_at=None,
    )
    .returning(*_T.c)
)
# The study's state, budget and trial count (highest number + 1) in one statement.
_PROGRESS = select(
    _S.c.state,
    _S.c.sampler,
    _S.c.n_trials,
    select(func.max(_T.c.number)).where(_T.c.study_id == _S.c.id).scalar_subquery(),
).where(_S.c.id == bindparam("sid"))


def top_number(session: Session, study_id: int) -> int | None:
    """The study's highest trial number (None without trials)."""
    value = session.connection().execute(_TOP_NUMBER, {"sid": study_id}).scalar()
    return None if value is None else int(value)


def active_trials(session: Session, study_id: int) -> list[tuple[int, int, TrialState]]:
    """(id, number, state) of the study's queued and running trials, by number."""
    rows = session.connection().execute(_ACTIVE, {"sid": study_id})
    return [(int(i), int(n), TrialState(s)) for i, n, s in rows]


def finished_candidates(
    session: Session, study_id: int, above: int, ids: Sequence[int]
) -> list[TrialRow]:
    """The study's finished trials numbered above `above` or among `ids`, in the order they
    finished (finished_at, id), with what a sampler observes of them."""
    connection = session.connection()
    if ids:
        result = connection.execute(
            _FINISHED_ABOVE_OR_IN, {"sid": study_id, "top": above, "ids": list(ids)}
        )
    else:
        result = connection.execute(_FINISHED_ABOVE, {"sid": study_id, "top": above})
    return list(result)


def params_of(session: Session, trial_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = session.connection().execute(_PARAMS_OF, {"ids": list(trial_ids)})
    return {int(i): dict(p) for i, p in rows}


def insert_running_trial(session: Session, values: Mapping[str, Any]) -> int:
    """INSERT one trial (every column given, defaults applied) and return its id. Raises
    IntegrityError on a duplicate dedup_key, as the ORM insert does."""
    return int(session.connection().execute(_INSERT_RUNNING, dict(values)).scalar_one())


def lease_of(session: Session, trial_id: int) -> TrialRow | None:
    """(lease_token, state, study_id) of a trial, locked for update; None if it is gone."""
    return session.connection().execute(_LEASE_OF, {"tid": trial_id}).one_or_none()


def complete_trial(
    session: Session,
    trial_id: int,
    value: float,
    metrics: Mapping[str, Any],
    finished_at: datetime,
) -> TrialRow:
    """Mark a (locked, running) trial completed; returns its whole row."""
    return (
        session.connection()
        .execute(
            _COMPLETE,
            {
                "tid": trial_id,
                "b_value": value,
                "b_metrics": dict(metrics),
                "b_finished_at": finished_at,
            },
        )
        .one()
    )


def study_progress(session: Session, study_id: int) -> tuple[StudyState, str, int, int]:
    """(state, sampler, n_trials, trials created) of a study."""
    state, sampler, n_trials, top = session.connection().execute(_PROGRESS, {"sid": study_id}).one()
    return StudyState(state), str(sampler), int(n_trials), -1 if top is None else int(top) + 1
