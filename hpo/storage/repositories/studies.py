"""Queries on studies. Every function takes the session first and runs inside the caller's
transaction (`Database.transaction`); none commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from hpo.errors import NotFoundError
from hpo.states import Direction, DirectionLike, StudyState, TrialState
from hpo.storage.models import Study, Trial


def create_study(
    session: Session,
    *,
    name: str,
    direction: DirectionLike,
    sampler: str,
    spec: Mapping[str, Any],
    n_trials: int,
    max_parallel: int = 1,
    max_attempts: int = 3,
    seed: int | None = None,
    pruner: str = "none",
    comparison_id: int | None = None,
    client_token_hash: str | None = None,
    max_seconds: float | None = None,
    max_trial_seconds: float | None = None,
    target: float | None = None,
    task_kind: str = "builtin",
    pool: str = "default",
) -> Study:
    """Insert a study in state `running` and return it with its id. The spec is stored as
    given: validate it before (hpo.space / the API schemas)."""
    study = Study(
        name=name,
        state=StudyState.RUNNING,
        direction=Direction(direction),
        sampler=sampler,
        pruner=pruner,
        spec=dict(spec),
        n_trials=n_trials,
        max_parallel=max_parallel,
        max_attempts=max_attempts,
        seed=seed,
        comparison_id=comparison_id,
        client_token_hash=client_token_hash,
        max_seconds=max_seconds,
        max_trial_seconds=max_trial_seconds,
        target=target,
        task_kind=task_kind,
        pool=pool,
    )
    session.add(study)
    session.flush()  # assigns the id
    return study


def get_study(session: Session, study_id: int) -> Study:
    """The study, or `NotFoundError`."""
    study = session.get(Study, study_id)
    if study is None:
        raise NotFoundError(f"study {study_id} not found; list studies with GET /api/v1/studies")
    return study


def study_of_client_token(session: Session, token_hash: str) -> int | None:
    """The id of the study whose client token hashes to `token_hash` (unique, indexed)."""
    found = session.execute(select(Study.id).where(Study.client_token_hash == token_hash))
    return found.scalar_one_or_none()


def study_of_trial(session: Session, trial_id: int) -> int | None:
    return session.execute(select(Trial.study_id).where(Trial.id == trial_id)).scalar_one_or_none()


def list_studies(
    session: Session,
    *,
    states: Iterable[StudyState] | None = None,
    comparison_id: int | None = None,
    standalone: bool = False,
    offset: int = 0,
    limit: int | None = 100,
) -> list[Study]:
    """Studies, newest first, optionally only in `states`, of one comparison, or (with
    `standalone`) of none."""
    statement = select(Study).order_by(Study.id.desc()).offset(offset).limit(limit)
    if states is not None:
        statement = statement.where(Study.state.in_(list(states)))
    if comparison_id is not None:
        statement = statement.where(Study.comparison_id == comparison_id)
    if standalone:
        statement = statement.where(Study.comparison_id.is_(None))
    return list(session.scalars(statement))


def delete_study(session: Session, study_id: int) -> None:
    """Delete a study; its trials and reports go with it (ON DELETE CASCADE)."""
    # A bulk DELETE: the database cascades to trials and reports without loading them.
    result = session.execute(delete(Study).where(Study.id == study_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFoundError(f"study {study_id} not found; nothing was deleted")


def count_trials_by_state(session: Session, study_id: int) -> dict[TrialState, int]:
    """Number of trials of one study in each state (every state present, zeros included)."""
    return count_trials_by_state_for(session, [study_id])[study_id]


def count_trials_by_state_for(
    session: Session, study_ids: Sequence[int]
) -> dict[int, dict[TrialState, int]]:
    """`count_trials_by_state` for many studies in one query (the study list page)."""
    counts = {study_id: dict.fromkeys(TrialState, 0) for study_id in study_ids}
    if not study_ids:
        return counts
    statement = (
        select(Trial.study_id, Trial.state, func.count())
        .where(Trial.study_id.in_(list(study_ids)))
        .group_by(Trial.study_id, Trial.state)
    )
    for study_id, state, count in session.execute(statement):
        counts[study_id][state] = count
    return counts
