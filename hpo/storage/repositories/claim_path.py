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
from datetime import UTC, datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import Row, Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from hpo.states import TrialState
from hpo.storage.models import Study, Trial

# A row of any shape (SQLAlchemy 2.1 types rows by their columns).
TrialRow: TypeAlias = Row[*tuple[Any, ...]]

_T = cast(Table, Trial.__table__)
_S = cast(Table, Study.__table__)

# The highest number and the active trials in one statement, so from one snapshot: one row
# per active trial (by number) with the top number on each, or one row of the top number
# alone (None without trials) when none is active.
_TOP = select(func.max(_T.c.number).label("top")).where(_T.c.study_id == bindparam("sid"))
_TOP_SUB = _TOP.subquery("top")
_ACTIVE_T = _T.alias("active")
_ACTIVE_WITH_TOP = (
    select(_TOP_SUB.c.top, _ACTIVE_T.c.id, _ACTIVE_T.c.number, _ACTIVE_T.c.state)
    .select_from(
        _TOP_SUB.outerjoin(
            _ACTIVE_T,
            (_ACTIVE_T.c.study_id == bindparam("sid"))
            & _ACTIVE_T.c.state.in_((TrialState.QUEUED, TrialState.RUNNING)),
        )
    )
    .order_by(_ACTIVE_T.c.number)
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
    _T.c.objective_values,
    _T.c.violations,
)
_NEVER = datetime.min.replace(tzinfo=UTC)  # sorts a missing finish time (NULLs last)
_FINISHED = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)
# The trials numbered above the previous read's top, and those among the ids active then
# (numbered at most that top, so the two parts never overlap). No state condition in SQL:
# with one, PostgreSQL with stale statistics (a young table, or autovacuum off, as on this
# project's CI machine) took the (study_id, state, value) index and read every finished
# trial of the study on every claim (12 ms at 11 000 trials, growing with them; measured
# with EXPLAIN ANALYZE during bench/sampler_dispatch.py); without, the growing study's
# reads stayed on (study_id, number) in the same benchmark. Not planner-proof: a table
# bulk-loaded and never analyzed can still get the (study_id, ...) index scan (EXPLAIN on
# 3 000 trials). The few rows that are not finished (claimed since) are dropped in
# `finished_candidates`.
_ABOVE = select(*_OBSERVED, _T.c.finished_at).where(
    _T.c.study_id == bindparam("sid"), _T.c.number > bindparam("top")
)
_FINISHED_ABOVE = _ABOVE
_FINISHED_ABOVE_OR_IN = _ABOVE.union_all(
    select(*_OBSERVED, _T.c.finished_at).where(
        _T.c.id.in_(bindparam("ids", expanding=True)), _T.c.number <= bindparam("top")
    )
)
_PARAMS_OF = select(_T.c.id, _T.c.params).where(_T.c.id.in_(bindparam("ids", expanding=True)))

# Rows come back in the order given (one statement for several rows: "insertmanyvalues").
_INSERT_RUNNING = insert(_T).returning(_T.c.id, sort_by_parameter_order=True)

# Completes a running trial and returns its row, its lease token (for the caller to compare in
# constant time, rolling back on a mismatch) and its study's progress, in one round trip.
# The study's columns come from scalar subqueries: an UPDATE's RETURNING may not join, and
# both PostgreSQL and SQLite accept subqueries there.
_OTHER = _T.alias("other_trial")
_PROGRESS_OF_ROW = (
    select(_S.c.state).where(_S.c.id == _T.c.study_id).scalar_subquery().label("study_state"),
    select(_S.c.sampler).where(_S.c.id == _T.c.study_id).scalar_subquery().label("sampler"),
    select(_S.c.n_trials).where(_S.c.id == _T.c.study_id).scalar_subquery().label("n_trials"),
    # Whether a time or quality budget may stop the study (hpo.service.stopping): then the
    # caller loads the study to check them; most studies have none and skip that.
    select(
        _S.c.max_seconds.is_not(None)
        | _S.c.max_trial_seconds.is_not(None)
        | _S.c.target.is_not(None)
    )
    .where(_S.c.id == _T.c.study_id)
    .scalar_subquery()
    .label("stop_rules"),
    # The spec says whether the result needs evaluating (objectives, constraints).
    select(_S.c.spec).where(_S.c.id == _T.c.study_id).scalar_subquery().label("study_spec"),
    # The study's highest trial number (numbers are never changed, so the snapshot before
    # the update is as good as after).
    select(func.max(_OTHER.c.number))
    .where(_OTHER.c.study_id == _T.c.study_id)
    .scalar_subquery()
    .label("top_number"),
)
_COMPLETE_RUNNING = (
    update(_T)
    .where(_T.c.id == bindparam("tid"), _T.c.state == TrialState.RUNNING)
    .values(
        state=TrialState.COMPLETED,
        value=bindparam("b_value"),
        metrics=bindparam("b_metrics"),
        finished_at=bindparam("b_finished_at"),
        lease_expires_at=None,
    )
    .returning(*_T.c, *_PROGRESS_OF_ROW)
)


_RECORD_OBJECTIVES = (
    update(_T)
    .where(_T.c.id == bindparam("tid"))
    .values(
        value=bindparam("b_value"),
        objective_values=bindparam("b_values"),
        violations=bindparam("b_violations"),
        feasible=bindparam("b_feasible"),
    )
)


def record_objectives(
    session: Session,
    trial_id: int,
    values: Sequence[float],
    violations: Sequence[float],
    feasible: bool | None,
) -> None:
    """Store a completed trial's objective values (the first also as `value`), constraint
    violations and feasibility (None: the study has no constraints)."""
    session.connection().execute(
        _RECORD_OBJECTIVES,
        {
            "tid": trial_id,
            "b_value": float(values[0]),
            "b_values": [float(v) for v in values],
            "b_violations": [float(v) for v in violations] if violations else None,
            "b_feasible": feasible,
        },
    )


def active_trials(
    session: Session, study_id: int
) -> tuple[int | None, list[tuple[int, int, TrialState]]]:
    """The study's highest trial number (None without trials) and (id, number, state) of its
    queued and running trials by number, read in one statement (one snapshot)."""
    top: int | None = None
    active: list[tuple[int, int, TrialState]] = []
    for row_top, trial_id, number, state in session.connection().execute(
        _ACTIVE_WITH_TOP, {"sid": study_id}
    ):
        top = None if row_top is None else int(row_top)
        if trial_id is not None:
            active.append((int(trial_id), int(number), TrialState(state)))
    return top, active


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
    rows = [row for row in result if row.state in _FINISHED]
    rows.sort(key=lambda row: (row.finished_at is None, row.finished_at or _NEVER, row.id))
    return rows


def params_of(session: Session, trial_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = session.connection().execute(_PARAMS_OF, {"ids": list(trial_ids)})
    return {int(i): dict(p) for i, p in rows}


def insert_running_trials(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """INSERT trials (every column given, defaults applied) in one statement and return their
    ids in order. Raises IntegrityError on a duplicate dedup_key, as the ORM insert does."""
    connection = session.connection()
    if len(rows) == 1:
        return [int(connection.execute(_INSERT_RUNNING, dict(rows[0])).scalar_one())]
    result = connection.execute(_INSERT_RUNNING, [dict(row) for row in rows])
    return [int(trial_id) for trial_id in result.scalars()]


def complete_running(
    session: Session,
    trial_id: int,
    value: float,
    metrics: Mapping[str, Any],
    finished_at: datetime,
) -> TrialRow | None:
    """Mark a trial completed if it is running, in one statement, and return its whole row
    plus its study's `study_state`, `sampler`, `n_trials`, `stop_rules` (whether a time or
    quality budget is set) and `top_number` (None without trials); None if the trial is gone
    or not running. The row stays locked until the transaction ends: the caller checks the
    returned `lease_token` and rolls back if it is not the worker's."""
    return (
        session.connection()
        .execute(
            _COMPLETE_RUNNING,
            {
                "tid": trial_id,
                "b_value": value,
                "b_metrics": dict(metrics),
                "b_finished_at": finished_at,
            },
        )
        .one_or_none()
    )
