"""Queries on trials. Session first; the caller's transaction commits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hpo.states import Direction, TrialState
from hpo.storage.models import Trial


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a configuration (sorted keys, no spaces).

    Equal configurations hash equally whatever their key order; 1 and 1.0 differ (JSON keeps
    the distinction, and so do int and float parameters).
    """
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_trial_number(session: Session, study_id: int) -> int:
    """The number the study's next trial gets (0 for the first). Only race-free under
    `lock_study`: two unlocked callers can read the same maximum."""
    current = session.scalar(select(func.max(Trial.number)).where(Trial.study_id == study_id))
    return 0 if current is None else current + 1


def insert_trial(
    session: Session,
    study_id: int,
    params: Mapping[str, Any],
    *,
    state: TrialState = TrialState.QUEUED,
    exactly_once: bool = False,
    number: int | None = None,
    **columns: Any,
) -> Trial:
    """Insert a trial and return it with its id and number; hold `lock_study` around it.

    `exactly_once=True` (grid points, enqueued configs) sets `dedup_key` to the params hash,
    so a second trial with the same params in the study fails with `AlreadyExistsError`
    (via the transaction helper; check `find_trial_by_dedup_key` first to avoid it). Sampled
    trials leave it unset and may repeat a configuration. Other `columns` (the lease fields of
    a trial inserted running) go into the same INSERT.
    """
    digest = params_hash(params)
    trial = Trial(
        study_id=study_id,
        number=next_trial_number(session, study_id) if number is None else number,
        params=dict(params),
        params_hash=digest,
        dedup_key=digest if exactly_once else None,
        state=state,
        attempt=1,
        **columns,
    )
    session.add(trial)
    session.flush()  # assigns the id, and raises IntegrityError on a duplicate here, not later
    return trial


def list_trials(
    session: Session,
    study_id: int,
    *,
    states: Iterable[TrialState] | None = None,
    offset: int = 0,
    limit: int | None = 100,
) -> list[Trial]:
    """A study's trials by number, optionally only in `states`; `limit=None` for all."""
    statement = (
        select(Trial)
        .where(Trial.study_id == study_id)
        .order_by(Trial.number)
        .offset(offset)
        .limit(limit)
    )
    if states is not None:
        statement = statement.where(Trial.state.in_(list(states)))
    return list(session.scalars(statement))


def count_trials(
    session: Session, study_id: int, *, states: Iterable[TrialState] | None = None
) -> int:
    """How many trials a study has (in `states`), e.g. the total for a paged list."""
    statement = select(func.count()).select_from(Trial).where(Trial.study_id == study_id)
    if states is not None:
        statement = statement.where(Trial.state.in_(list(states)))
    return session.scalar(statement) or 0


def leaderboard(
    session: Session,
    study_id: int,
    direction: Direction,
    *,
    k: int = 10,
    include_pruned: bool = False,
) -> list[Trial]:
    """The best `k` trials with a value, best first (ties: the earlier trial first).

    Completed trials only by default; `include_pruned=True` also ranks pruned trials by their
    last value (a pruned trial is a result, but stopped early, so it rarely belongs on top).
    """
    states = [TrialState.COMPLETED, TrialState.PRUNED] if include_pruned else [TrialState.COMPLETED]
    order = Trial.value.asc() if Direction(direction) is Direction.MINIMIZE else Trial.value.desc()
    statement = (
        select(Trial)
        .where(
            Trial.study_id == study_id,
            Trial.state.in_(states),
            Trial.value.is_not(None),
            # An infeasible trial (a constraint broken) is never ranked; NULL: no constraints.
            Trial.feasible.is_not(False),
        )
        .order_by(order, Trial.number)
        .limit(k)
    )
    return list(session.scalars(statement))


def best_trial(session: Session, study_id: int, direction: Direction) -> Trial | None:
    """The best completed trial, or None while no trial has completed."""
    top = leaderboard(session, study_id, direction, k=1)
    return top[0] if top else None


def feasible_completed(session: Session, study_id: int) -> list[Trial]:
    """The study's completed trials that broke no constraint, by number."""
    statement = (
        select(Trial)
        .where(
            Trial.study_id == study_id,
            Trial.state == TrialState.COMPLETED,
            Trial.value.is_not(None),
            Trial.feasible.is_not(False),
        )
        .order_by(Trial.number)
    )
    return list(session.scalars(statement))


def find_trial_by_dedup_key(session: Session, study_id: int, dedup_key: str) -> Trial | None:
    """The exactly-once trial of a study with this key (a params hash), if any."""
    statement = select(Trial).where(Trial.study_id == study_id, Trial.dedup_key == dedup_key)
    return session.scalars(statement).one_or_none()
