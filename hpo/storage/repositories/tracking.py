"""The tracking outbox (finished trials waiting for MLflow) and the ids hpo made there.

`enqueue` runs in the transaction that finishes a trial, as one INSERT that a repeat of the
same trial leaves alone (ON CONFLICT DO NOTHING: a finish seen twice must never fail the
worker's complete). The sink reads what is due, oldest first, and deletes each row once its
run is logged.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hpo.storage.models import TrackingOutbox, TrackingRun

__all__ = [
    "TrackingOutbox",
    "TrackingRun",
    "backlog",
    "done",
    "due",
    "enqueue",
    "get_run",
    "put_run",
]

_OUTBOX = cast(Table, TrackingOutbox.__table__)


def enqueue(session: Session, trial_id: int, now: datetime) -> None:
    """Queue a finished trial for the tracking sink (once per trial)."""
    connection = session.connection()
    values = {"trial_id": trial_id, "created_at": now, "attempts": 0}
    if connection.dialect.name == "postgresql":
        connection.execute(postgresql.insert(_OUTBOX).values(**values).on_conflict_do_nothing())
    else:
        connection.execute(sqlite.insert(_OUTBOX).values(**values).on_conflict_do_nothing())


def due(session: Session, now: datetime, limit: int) -> list[TrackingOutbox]:
    """Rows whose next attempt is due, oldest first."""
    statement = (
        select(TrackingOutbox)
        .where(or_(TrackingOutbox.next_attempt_at.is_(None), TrackingOutbox.next_attempt_at <= now))
        .order_by(TrackingOutbox.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def backlog(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(TrackingOutbox)).scalar_one())


def done(session: Session, row_id: int) -> None:
    session.execute(delete(TrackingOutbox).where(TrackingOutbox.id == row_id))


def get_run(session: Session, key: str) -> TrackingRun | None:
    return session.get(TrackingRun, key)


def put_run(session: Session, key: str, experiment_id: str, run_id: str | None) -> None:
    session.merge(TrackingRun(key=key, experiment_id=experiment_id, run_id=run_id))
