"""Workers as the API sees them: an id chosen by the worker, its host and devices, last seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hpo.storage._types import utcnow
from hpo.storage.models import Worker
from hpo.storage.repositories._upsert import upsert


def upsert_worker(
    session: Session,
    worker_id: str,
    *,
    host: str,
    devices: Sequence[str],
    now: datetime | None = None,
) -> Worker:
    """Record that a worker was seen (on claim or heartbeat): insert it the first time,
    refresh host, devices and `last_seen` afterwards. One statement, so two concurrent
    first calls with the same id do not conflict."""
    touch_worker(session, worker_id, host=host, devices=devices, now=now)
    worker = session.get(Worker, worker_id, populate_existing=True)
    if worker is None:  # pragma: no cover - the upsert just wrote it
        raise RuntimeError(f"worker {worker_id!r} vanished after its upsert")
    return worker


def touch_worker(
    session: Session,
    worker_id: str,
    *,
    host: str,
    devices: Sequence[str],
    now: datetime | None = None,
) -> None:
    """`upsert_worker` without reading the row back: one statement."""
    seen = utcnow() if now is None else now
    upsert(
        session,
        Worker.__table__,  # type: ignore[arg-type]
        {
            "id": worker_id,
            "host": host,
            "devices": list(devices),
            "first_seen": seen,
            "last_seen": seen,
        },
        conflict_columns=("id",),
        update_columns=("host", "devices", "last_seen"),
    )


def list_workers(session: Session, *, seen_since: datetime | None = None) -> list[Worker]:
    """Workers, most recently seen first; `seen_since` keeps the live ones."""
    statement = select(Worker).order_by(Worker.last_seen.desc(), Worker.id)
    if seen_since is not None:
        statement = statement.where(Worker.last_seen >= seen_since)
    return list(session.scalars(statement))
