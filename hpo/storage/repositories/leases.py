"""Queries on the lease columns of trials that the claim path's ORM objects do not cover."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from hpo.storage.models import Trial


def set_next_lease(
    session: Session,
    completed_trial_id: int,
    *,
    next_trial_id: int | None,
    next_lease_hash: str | None,
) -> None:
    """Record on a completed trial the lease its complete-and-claim handed out (see
    `hpo.service.dispatch.lease_binding`), without loading the row."""
    session.execute(
        update(Trial)
        .where(Trial.id == completed_trial_id)
        .values(next_trial_id=next_trial_id, next_lease_hash=next_lease_hash)
        .execution_options(synchronize_session=False)
    )
