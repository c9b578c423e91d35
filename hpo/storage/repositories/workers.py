"""Workers as the API sees them: an id chosen by the worker, its host, devices and pools,
last seen."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hpo.states import StudyState, TrialState
from hpo.storage._types import utcnow
from hpo.storage.models import Study, Trial, Worker
from hpo.storage.repositories._upsert import upsert


def touch_worker(
    session: Session,
    worker_id: str,
    *,
    host: str,
    devices: Sequence[str],
    pools: Sequence[str] = ("default",),
    now: datetime | None = None,
) -> None:
    """Record that a worker was seen (on claim): insert it the first time, refresh host,
    devices, pools and `last_seen` afterwards. One statement, so two concurrent first calls
    with the same id do not conflict."""
    seen = utcnow() if now is None else now
    upsert(
        session,
        Worker.__table__,  # type: ignore[arg-type]
        {
            "id": worker_id,
            "host": host,
            "devices": list(devices),
            "pools": list(pools),
            "first_seen": seen,
            "last_seen": seen,
        },
        conflict_columns=("id",),
        update_columns=("host", "devices", "pools", "last_seen"),
    )


def live_workers(
    session: Session, *, seen_since: datetime, now: datetime
) -> list[tuple[Worker, list[int]]]:
    """The workers seen since `seen_since` or holding a trial whose lease is still live (a
    worker training a long trial claims nothing for a while, but heartbeats its lease), each
    with the ids of the trials it runs now, by id."""
    running = select(Trial.worker_id, Trial.id).where(
        Trial.state == TrialState.RUNNING,
        Trial.lease_expires_at > now,
        Trial.worker_id.is_not(None),
    )
    trials: dict[str, list[int]] = {}
    for worker_id, trial_id in session.execute(running):
        trials.setdefault(str(worker_id), []).append(int(trial_id))
    statement = (
        select(Worker)
        .where(or_(Worker.last_seen >= seen_since, Worker.id.in_(list(trials))))
        .order_by(Worker.id)
    )
    return [(w, sorted(trials.get(w.id, []))) for w in session.scalars(statement)]


def active_study_counts(session: Session) -> list[tuple[Study, int, int]]:
    """Every running study with its running and finished trial counts (for the claimable
    slots gauge: read at scrape time, over running studies only)."""
    finished = (TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED)
    counts = (
        select(
            Trial.study_id,
            func.count().filter(Trial.state == TrialState.RUNNING).label("running"),
            func.count().filter(Trial.state.in_(finished)).label("finished"),
        )
        .join(Study, Study.id == Trial.study_id)
        .where(Study.state == StudyState.RUNNING)
        .group_by(Trial.study_id)
    )
    by_study = {int(sid): (int(r), int(f)) for sid, r, f in session.execute(counts)}
    studies = session.scalars(select(Study).where(Study.state == StudyState.RUNNING))
    return [(s, *by_study.get(s.id, (0, 0))) for s in studies]
