"""The worker fleet as the service sees it: who is live, in which pools, doing what
(`GET /api/v1/workers`), which pools have nobody to train their studies (a study's
`waiting_for`), and the claimable trial slots per pool (the /metrics gauge an autoscaler
scales workers on).

A worker is *live* when its claims refreshed its row within `LIVE_WORKER_SECONDS`, or when it
holds a trial whose lease is live: a worker training a long trial claims nothing for its
duration, but its heartbeats keep the lease alive, and that is the proof it is there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from hpo.pools import DEFAULT_POOL
from hpo.service._common import target_trials
from hpo.service.views import WorkerView
from hpo.storage import Database, StudyState, utcnow
from hpo.storage import repositories as repo

# An idle worker claims at least every few seconds (long-poll, `--wait-seconds` 5 by default;
# its row is refreshed every 5 s, `workers_seen`); a failed claim backs off up to a minute
# (`--max-claim-backoff`). Past this, with no live lease either, it is gone.
LIVE_WORKER_SECONDS = 90.0


class WorkerFleet:
    """Reads over the workers table and the running trials; `clock` is the dispatcher's (tests
    move it to make workers go stale)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        live_seconds: float = LIVE_WORKER_SECONDS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.live_for = timedelta(seconds=live_seconds)

    def live(self) -> list[WorkerView]:
        """The live workers, by id, each with its pools, devices and current trials."""
        now = self.clock()
        with self.db.transaction(write=False) as session:
            rows = repo.live_workers(session, seen_since=now - self.live_for, now=now)
            return [
                WorkerView(
                    id=worker.id,
                    host=worker.host,
                    pools=list(worker.pools or [DEFAULT_POOL]),
                    devices=list(worker.devices),
                    slots=1,
                    current_trials=trials,
                    first_seen=worker.first_seen,
                    last_seen=worker.last_seen,
                )
                for worker, trials in rows
            ]

    def live_pools(self) -> set[str]:
        return {pool for worker in self.live() for pool in worker.pools}

    def waiting_for(self, state: StudyState, pool: str) -> str | None:
        """Why a study in `state` and `pool` gets nothing trained, when that is the fleet's
        doing: no live worker serves its pool. None when it is not running, or one does."""
        if state is not StudyState.RUNNING or pool in self.live_pools():
            return None
        return f"no live worker in pool {pool}"

    def claimable_slots(self) -> dict[str, int]:
        """Per pool, the trials workers could start now: for each running study the room left
        in its budget (target minus finished minus running), at most its free parallel slots
        (max_parallel minus running). Pools of running studies appear even at 0."""
        slots: dict[str, int] = {}
        with self.db.transaction(write=False) as session:
            for study, running, finished in repo.active_study_counts(session):
                room = min(study.max_parallel - running, target_trials(study) - finished - running)
                slots[study.pool] = slots.get(study.pool, 0) + max(0, room)
        return slots
