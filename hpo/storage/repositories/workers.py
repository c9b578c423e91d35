"""Workers as the API sees them: an id chosen by the worker, its host and devices, last seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from hpo.storage._types import utcnow
from hpo.storage.models import Worker
from hpo.storage.repositories._upsert import upsert


def touch_worker(
    session: Session,
    worker_id: str,
    *,
    host: str,
    devices: Sequence[str],
    now: datetime | None = None,
) -> None:
    """Record that a worker was seen (on claim or heartbeat): insert it the first time, refresh
    host, devices and `last_seen` afterwards. One statement, so two concurrent first calls
    with the same id do not conflict."""
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
