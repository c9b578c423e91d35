"""Queries on comparisons and on the studies and trials behind them. Session first; the
caller's transaction commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hpo.errors import NotFoundError
from hpo.states import FailureClass, TrialState
from hpo.storage.models import Comparison, Study, Trial


def create_comparison(session: Session, *, name: str, spec: Mapping[str, Any]) -> Comparison:
    """Insert a comparison and return it with its id (its studies are created by the caller)."""
    comparison = Comparison(name=name, spec=dict(spec), final={})
    session.add(comparison)
    session.flush()  # assigns the id
    return comparison


def comparison_not_found(comparison_id: int) -> NotFoundError:
    return NotFoundError(
        f"comparison {comparison_id} not found; list comparisons with GET /api/v1/comparisons"
    )


def get_comparison(session: Session, comparison_id: int) -> Comparison:
    """The comparison, or `NotFoundError`."""
    comparison = session.get(Comparison, comparison_id)
    if comparison is None:
        raise comparison_not_found(comparison_id)
    return comparison


def list_comparisons(session: Session, *, offset: int = 0, limit: int = 100) -> list[Comparison]:
    """Comparisons, newest first."""
    statement = select(Comparison).order_by(Comparison.id.desc()).offset(offset).limit(limit)
    return list(session.scalars(statement))


def comparison_studies(session: Session, comparison_ids: Sequence[int]) -> list[Study]:
    """The studies of these comparisons, in creation order (sampler-major, then seed)."""
    if not comparison_ids:
        return []
    statement = (
        select(Study).where(Study.comparison_id.in_(list(comparison_ids))).order_by(Study.id)
    )
    return list(session.scalars(statement))


def delete_comparison(session: Session, comparison_id: int) -> None:
    """Delete a comparison and its studies (their trials and reports cascade)."""
    get_comparison(session, comparison_id)
    session.execute(delete(Study).where(Study.comparison_id == comparison_id))
    session.execute(delete(Comparison).where(Comparison.id == comparison_id))


@dataclass(frozen=True)
class FinishedTrial:
    """What the best-so-far curves need of a finished trial, without loading params."""

    study_id: int
    number: int
    state: TrialState
    value: float | None
    started_at: datetime | None
    finished_at: datetime | None
    objective_values: list[float] | None = None  # several objectives: one value each
    feasible: bool | None = None  # False: a constraint broken (NULL: no constraints)


def finished_trials(session: Session, study_ids: Sequence[int]) -> list[FinishedTrial]:
    """Finished trials of these studies in the order they finished (then by number).

    Trials failed because their study was cancelled are left out: they were never evaluated,
    so they spent none of the budget a sampler is compared on.
    """
    if not study_ids:
        return []
    finished = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)
    statement = (
        select(
            Trial.study_id,
            Trial.number,
            Trial.state,
            Trial.value,
            Trial.started_at,
            Trial.finished_at,
            Trial.objective_values,
            Trial.feasible,
        )
        .where(
            Trial.study_id.in_(list(study_ids)),
            Trial.state.in_(finished),
            (Trial.failure_class.is_(None)) | (Trial.failure_class != FailureClass.CANCELLED),
        )
        .order_by(Trial.study_id, Trial.finished_at, Trial.number)
    )
    return [FinishedTrial(*row) for row in session.execute(statement)]
