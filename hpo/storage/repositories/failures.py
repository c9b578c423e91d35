"""Queries on failed trials: the latest results that say something about a study's config,
and its most common failures (see `hpo.service.failures`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hpo.states import FailureClass, TrialState
from hpo.storage.models import Trial


def latest_results_except(
    session: Session, study_id: int, ignored: Sequence[FailureClass], limit: int
) -> list[tuple[FailureClass | None, str | None]]:
    """(failure class, message) of the study's `limit` latest finished trials, newest first,
    leaving out the failures of the `ignored` classes (a completed or pruned trial has no
    class)."""
    counted = or_(
        Trial.state != TrialState.FAILED,
        Trial.failure_class.is_(None),
        Trial.failure_class.not_in(list(ignored)),
    )
    rows = session.execute(
        select(Trial.failure_class, Trial.failure_message)
        .where(
            Trial.study_id == study_id,
            Trial.state.in_((TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)),
            counted,
        )
        .order_by(Trial.finished_at.desc(), Trial.id.desc())
        .limit(limit)
    ).all()
    return [(cls, message) for cls, message in rows]


def most_common_failures(
    session: Session, study_id: int, limit: int
) -> list[tuple[FailureClass | None, str | None, int]]:
    """The study's most common (failure class, message) pairs among its failed trials."""
    count = func.count(Trial.id)
    rows = session.execute(
        select(Trial.failure_class, Trial.failure_message, count)
        .where(Trial.study_id == study_id, Trial.state == TrialState.FAILED)
        .group_by(Trial.failure_class, Trial.failure_message)
        .order_by(count.desc(), Trial.failure_class)
        .limit(limit)
    ).all()
    return [(cls, message, int(n)) for cls, message, n in rows]
