"""The worker protocol: claims (claim, ask, batching), results (heartbeat, report, complete,
fail, reap), leases (token, columns, failure classes) and suggestions (the sampler cache and
the prefetcher behind `suggest`, `result_in`, `forget`).

    claims.py         claim, ask, complete-and-claim's claim; batches via combining.py
    results.py        heartbeat, report, complete, fail, reap
    leases.py         lease tokens, the lease columns, token checks, failure classes
    lease_binding.py  which lease a complete-and-claim handed out (for its retry)
    claim_fields.py   worker id, host, devices checked against their columns
    suggestions.py    Suggestions: sampler_cache.py + prefetch.py, one small interface
    sampler_failures.py  a study whose sampler raises is paused
    reaper.py         the thread that calls `reap`
    waiting.py        long-poll claims: WorkSignal (notified below) and claim_waiting

`Dispatcher` is the facade the API and tests call; it holds one `Claims` and one `Results`
over the `Suggestions` that `Service` owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from hpo.errors import HpoError, ValidationError
from hpo.pools import DEFAULT_POOL, check_pools
from hpo.service.dispatch.claim_fields import check_claim_fields
from hpo.service.dispatch.claims import Claims
from hpo.service.dispatch.lease_binding import bound_next_lease
from hpo.service.dispatch.results import Results
from hpo.service.dispatch.suggestions import Suggestions
from hpo.service.dispatch.waiting import WorkSignal
from hpo.service.metrics import Metrics
from hpo.service.views import Lease, TrialView
from hpo.storage import Database, FailureClass, utcnow
from hpo.storage.repositories.locks import BUILTIN_ONLY
from hpo.storage.statistics import analyze_trials_if_stale

log = logging.getLogger("hpo.service.dispatch")


class Dispatcher:
    """Hands trials to workers and takes their results back.

    `clock` is injectable so tests can expire leases without sleeping.
    """

    def __init__(
        self,
        db: Database,
        suggestions: Suggestions,
        *,
        lease_seconds: float = 120.0,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.metrics = metrics or suggestions.metrics
        self.clock = clock
        self.suggestions = suggestions
        lease = timedelta(seconds=lease_seconds)
        self.claims = Claims(db, suggestions, self.metrics, lease=lease, clock=clock)
        self.results = Results(db, suggestions, self.metrics, lease=lease, clock=clock)
        # Wakes long-polling claims (api/routes/trials.py) when work may have appeared: a
        # result or failure (a slot freed, a trial requeued), a reap, and the study changes
        # the API routes announce (create, resume, PATCH, enqueue).
        self.work = WorkSignal()

    def claim(
        self,
        worker_id: str,
        *,
        host: str = "",
        devices: tuple[str, ...] = (),
        pools: tuple[str, ...] = (DEFAULT_POOL,),
        task_kinds: Sequence[str] = BUILTIN_ONLY,
        completed_trial_id: int | None = None,
    ) -> Lease | None:
        """A trial for this worker from a study in one of its `pools` and of one of its
        `task_kinds`, or None (HTTP 204): see `Claims.claim`. `completed_trial_id`: the claim
        half of that trial's complete-and-claim (the lease is bound to it, `lease_binding`)."""
        return self.claims.claim(
            worker_id,
            host=host,
            devices=devices,
            pools=pools,
            task_kinds=task_kinds,
            completed_trial_id=completed_trial_id,
        )

    def ask(
        self, study_id: int, *, worker_id: str = "ask-tell", lease_seconds: float | None = None
    ) -> Lease:
        """A trial of one study for the user's own code (ask/tell): see `Claims.ask`."""
        return self.claims.ask(study_id, worker_id=worker_id, lease_seconds=lease_seconds)

    def heartbeat(self, trial_id: int, token: str) -> datetime:
        return self.results.heartbeat(trial_id, token)

    def report(self, trial_id: int, token: str, step: int, value: float) -> bool:
        return self.results.report(trial_id, token, step, value)

    def reports(self, trial_id: int, token: str, reports: Sequence[tuple[int, float]]) -> bool:
        """Several reports in one transaction, as many `report`s in order: see
        `Results.reports`."""
        return self.results.reports(trial_id, token, reports)

    def complete(
        self,
        trial_id: int,
        token: str,
        value: float,
        metrics: Mapping[str, Any] | None = None,
        reports: Sequence[tuple[int, float]] = (),
    ) -> TrialView:
        """Record the final value, and the trial's last `reports` with it. Idempotent:
        repeating a complete that already landed (same token and value) returns the trial
        unchanged."""
        view = self.results.complete(trial_id, token, value, metrics, reports)[0]
        self.work.notify()
        return view

    def complete_and_claim(
        self,
        trial_id: int,
        token: str,
        value: float,
        metrics: Mapping[str, Any] | None,
        worker_id: str,
        *,
        host: str = "",
        devices: tuple[str, ...] = (),
        pools: tuple[str, ...] = (DEFAULT_POOL,),
        task_kinds: Sequence[str] = BUILTIN_ONLY,
        reports: Sequence[tuple[int, float]] = (),
    ) -> tuple[TrialView, Lease | None]:
        """`complete`, then `claim` for the same worker: one request per trial instead of two
        for a worker that goes on (its next trial, or None: no work right now).

        Idempotent as `complete` is: when the complete is a retry of one that already landed
        (the answer was lost on the way), the lease that the first attempt claimed, if still
        live, is handed out again rather than a second one, which would sit leased to nobody
        until it expired. That lease is found through the completed trial (whose token the
        retry proves it holds), never by `worker_id` (see `lease_binding`)."""
        view, lease, _ = self.complete_and_claim_once(
            trial_id,
            token,
            value,
            metrics,
            worker_id,
            host=host,
            devices=devices,
            pools=pools,
            task_kinds=task_kinds,
            reports=reports,
        )
        return view, lease

    def complete_and_claim_once(
        self,
        trial_id: int,
        token: str,
        value: float,
        metrics: Mapping[str, Any] | None,
        worker_id: str,
        *,
        host: str = "",
        devices: tuple[str, ...] = (),
        pools: tuple[str, ...] = (DEFAULT_POOL,),
        task_kinds: Sequence[str] = BUILTIN_ONLY,
        reports: Sequence[tuple[int, float]] = (),
    ) -> tuple[TrialView, Lease | None, int]:
        """`complete_and_claim`, also returning the `work` signal's generation read after the
        complete and before the claim: a long-polling caller (api/routes/trials.py) that got
        no lease waits from there for further work (`claim_waiting(tried_at=...)`), without
        claiming again at once for its own complete's notify."""
        check_claim_fields(worker_id, host, devices)  # before the complete lands
        pools = check_pools(pools)
        view, retried = self.results.complete(trial_id, token, value, metrics, reports)
        self.work.notify()
        generation = self.work.generation
        if retried:
            with self.db.transaction(write=False) as session:
                held = bound_next_lease(session, trial_id, token, self.clock())
            if held is not None:
                return view, held, generation
        lease = self.claims.claim(
            worker_id,
            host=host,
            devices=devices,
            completed_trial_id=trial_id,
            pools=pools,
            task_kinds=task_kinds,
        )
        return view, lease, generation

    def fail(
        self, trial_id: int, token: str, failure_class: FailureClass | str, message: str = ""
    ) -> TrialView:
        view = self.results.fail(trial_id, token, failure_class, message)
        self.work.notify()
        return view

    def tell(
        self,
        trial_id: int,
        token: str,
        state: Literal["completed", "failed"],
        *,
        value: float | None = None,
        metrics: Mapping[str, Any] | None = None,
        failure_class: FailureClass | str = FailureClass.USER,
        message: str = "",
    ) -> TrialView:
        """Ask/tell's result: a complete with `value`, or a fail with `failure_class`."""
        if state == "completed":
            if value is None:
                raise ValidationError(
                    "tell needs a value when state is completed (or state: failed)"
                )
            return self.complete(trial_id, token, value, metrics)
        return self.fail(trial_id, token, failure_class, message)

    def reap(self) -> int:
        """Requeue (or, past max_attempts, fail) trials whose lease expired. Returns how many."""
        reaped = self.results.reap()
        if reaped:
            self.work.notify()
        return reaped

    def upkeep(self) -> bool:
        """The reaper's other periodic job: refresh PostgreSQL's statistics of the trials
        table when they are stale (`hpo.storage.statistics`); True when it did."""
        try:
            with self.db.transaction() as session:
                return analyze_trials_if_stale(session)
        except (SQLAlchemyError, HpoError) as e:  # e.g. a role that may not ANALYZE
            log.warning("could not refresh the trials table's statistics: %s", e)
            return False


__all__ = ["Dispatcher", "Suggestions"]
