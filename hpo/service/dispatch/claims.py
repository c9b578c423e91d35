"""Claims: a trial for a worker (`claim`), for the user's own code (`ask`), served in batches.

A claim walks: `Claims.claim` -> the combiner (claims that arrive together share one
transaction) -> `_claim_any` (the least busy claimable study, locked) -> `_claim_in` (queued
trials first, then `Suggestions.suggest` for new ones) -> one repository insert of the new
running trials (`claim_path.insert_running_trials`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from hpo.errors import ConflictError, DatabaseUnavailable
from hpo.pools import DEFAULT_POOL, check_pools
from hpo.pruners import reports_answered
from hpo.service._common import finish_study_if_done, target_trials, training_config
from hpo.service.dispatch.active_trials import read_active
from hpo.service.dispatch.claim_fields import check_claim_fields
from hpo.service.dispatch.combining import Combiner
from hpo.service.dispatch.lease_binding import bind_next_lease
from hpo.service.dispatch.leases import lease_columns, lease_of
from hpo.service.dispatch.part import DispatchPart
from hpo.service.dispatch.sampler_failures import SamplerFailed, pause_for_sampler_failure
from hpo.service.dispatch.workers_seen import WorkersSeen
from hpo.service.stopping import time_spent
from hpo.service.views import Lease
from hpo.storage import (
    Study,
    StudyState,
    TrialState,
    lock_least_busy_study,
    lock_study,
    lock_study_snapshot,
)
from hpo.storage import repositories as repo
from hpo.storage.repositories import claim_path
from hpo.storage.repositories.locks import BUILTIN_ONLY

# Claim batches one process runs at once (see `combining`): more than one, so that a batch
# stuck in a slow ask (GP on a big study, under that study's lock) does not hold up the
# claims of other studies, which the next batch serves by skipping the locked study.
CLAIM_BATCHES_AT_ONCE = 4

# A claim that meets studies whose sampler fails pauses each and tries again (see
# `sampler_failures`); past this many in one claim, it answers no work (204) this time.
MAX_STUDIES_PAUSED_PER_CLAIM = 32


@dataclass(frozen=True)
class ClaimRequest:
    worker_id: str
    host: str
    devices: tuple[str, ...]
    completed_trial_id: int | None = None  # complete-and-claim: the lease is recorded there
    pools: tuple[str, ...] = (DEFAULT_POOL,)  # served only from studies in these pools
    # The task kinds the worker runs (builtin, command): studies of other kinds are not
    # handed to it (a worker without --allow-commands never gets a command trial).
    task_kinds: tuple[str, ...] = BUILTIN_ONLY


class Claims(DispatchPart):
    """Hands trials to workers: the least busy runnable study first, in batches."""

    def set_up(self) -> None:
        self._seen = WorkersSeen()
        self._batches: Combiner[ClaimRequest, Lease | None] = Combiner(
            self.serve_batch,
            max_running=CLAIM_BATCHES_AT_ONCE,
            # A batch that failed for one member's sake is rerun member by member; with the
            # database down, each would only fail again.
            rerun_alone=lambda error: not isinstance(error, DatabaseUnavailable),
        )

    def claim(
        self,
        worker_id: str,
        *,
        host: str = "",
        devices: tuple[str, ...] = (),
        completed_trial_id: int | None = None,
        pools: tuple[str, ...] = (DEFAULT_POOL,),
        task_kinds: Sequence[str] = BUILTIN_ONLY,
    ) -> Lease | None:
        """A trial for this worker from the least busy runnable study in one of its `pools`,
        or None (HTTP 204).

        Studies are tried least-busy first (fair sharing); a study locked by another claimer
        is skipped, not waited for (PostgreSQL SKIP LOCKED), so claimers spread over studies.
        Claims that arrive while another is running are served together by the next one,
        in one transaction (see `combining`). The fields are checked first (`claim_fields`):
        a value the database refuses must not fail the others' claims. `completed_trial_id`
        (complete-and-claim): the lease handed out is recorded on that trial (see
        `lease_binding`). Only studies whose task kind is in `task_kinds` are considered.
        """
        check_claim_fields(worker_id, host, devices)
        request = ClaimRequest(
            worker_id,
            host,
            tuple(devices),
            completed_trial_id,
            pools=check_pools(pools),
            task_kinds=tuple(sorted(set(task_kinds))),
        )
        return self._batches.submit(request)

    def serve_batch(self, requests: Sequence[ClaimRequest]) -> list[Lease | None]:
        """Serve claims in one transaction: one lock and one sampler ask per study for all.
        A study whose sampler fails is paused, and the claims are served again without it."""
        for _ in range(MAX_STUDIES_PAUSED_PER_CLAIM):
            try:
                return self._serve_once(requests)
            except SamplerFailed as failure:  # rolled back: pause it, then serve the claims
                pause_for_sampler_failure(self.db, failure, self.metrics)
        return [None] * len(requests)

    def _serve_once(self, requests: Sequence[ClaimRequest]) -> list[Lease | None]:
        stale = self._seen.stale((r.worker_id, r.host, r.devices, r.pools) for r in requests)
        started = time.perf_counter()
        with self.db.transaction() as session:
            commit_without_flush_wait(session)
            now = self.clock()
            for worker_id, seen in stale.items():
                repo.touch_worker(
                    session,
                    worker_id,
                    host=seen.host,
                    devices=list(seen.devices),
                    pools=list(seen.pools),
                    now=now,
                )
            leases = self._claim_by_group(session, requests, now)
            for request, lease in zip(requests, leases, strict=True):
                if request.completed_trial_id is not None:
                    bind_next_lease(session, request.completed_trial_id, lease)
        self.metrics.observe("hpo_claim_batch_seconds", time.perf_counter() - started)
        self.suggestions.after_claims()
        self._seen.written(stale)
        given = sum(1 for lease in leases if lease is not None)
        self.metrics.inc("hpo_claims_total", given)
        self.metrics.inc("hpo_claims_empty_total", len(leases) - given)
        self.metrics.inc("hpo_claim_batches_total")
        return leases

    def _claim_by_group(
        self, session: Session, requests: Sequence[ClaimRequest], now: datetime
    ) -> list[Lease | None]:
        """`_claim_any` for each group of requests that serve the same pools and run the same
        task kinds (one group, nearly always: a batch's workers are mostly alike), answers in
        request order."""
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
        for i, request in enumerate(requests):
            groups.setdefault((request.pools, request.task_kinds), []).append(i)
        if len(groups) == 1:
            return self._claim_any(
                session, requests, now, requests[0].pools, requests[0].task_kinds
            )
        leases: list[Lease | None] = [None] * len(requests)
        for (pools, kinds), members in groups.items():
            given = self._claim_any(session, [requests[i] for i in members], now, pools, kinds)
            for i, lease in zip(members, given, strict=True):
                leases[i] = lease
        return leases

    def _claim_any(
        self,
        session: Session,
        requests: Sequence[ClaimRequest],
        now: datetime,
        pools: tuple[str, ...],
        kinds: Sequence[str],
    ) -> list[Lease | None]:
        leases: list[Lease | None] = [None] * len(requests)
        served = 0

        def take(study: Study) -> None:
            nonlocal served
            for lease in self._claim_in(session, study, requests[served:], now):
                leases[served] = lease
                served += 1

        # The common case in one statement: lock the least busy claimable study that no other
        # claimer holds; when every one is held, wait for the least busy (a burst of workers
        # on one study would otherwise mostly get 204s and poll while there is work).
        study = lock_least_busy_study(session, skip_locked=True, pools=pools, task_kinds=kinds)
        if study is None and not self.db.is_sqlite:  # SQLite locks nothing per study
            study = lock_least_busy_study(session, skip_locked=False, pools=pools, task_kinds=kinds)
        if study is None:
            return leases  # no claimable study
        take(study)
        if served == len(requests):
            return leases
        # That study had no trial (or not enough) to give: budget used, grid exhausted, or
        # full. Try the others, least busy first, as above.
        tried = {study.id}
        skipped: list[int] = []
        for study_id in repo.claimable_study_ids(session, pools, kinds):
            if study_id in tried:
                continue
            locked = lock_study_snapshot(session, study_id, skip_locked=True)
            if locked is None:
                skipped.append(study_id)
                continue
            take(locked)
            if served == len(requests):
                return leases
        for study_id in skipped:
            locked = lock_study_snapshot(session, study_id, skip_locked=False)
            if locked is None:
                continue  # deleted meanwhile
            take(locked)
            if served == len(requests):
                return leases
        return leases

    def ask(
        self, study_id: int, *, worker_id: str = "ask-tell", lease_seconds: float | None = None
    ) -> Lease:
        """A trial of one study for the user's own code (ask/tell). 409 when the study has no
        room: paused, finished, at max_parallel, or its budget used."""
        try:
            with self.db.transaction() as session:
                commit_without_flush_wait(session)
                study = lock_study(session, study_id)
                if study.state is not StudyState.RUNNING:
                    raise ConflictError(f"study {study_id} is {study.state}: nothing to ask")
                request = ClaimRequest(worker_id, "", ())
                leases = self._claim_in(session, study, [request], self.clock(), lease_seconds)
            self.suggestions.after_claims()
        except SamplerFailed as failure:
            reason = pause_for_sampler_failure(self.db, failure, self.metrics)
            raise ConflictError(f"study {study_id} cannot hand out a trial: {reason}") from None
        if not leases:  # raised once committed: a study found finished stays so
            raise ConflictError(
                f"study {study_id} has no trial to hand out: its budget is used, its grid "
                "is exhausted, or max_parallel trials are running (tell results first)"
            )
        return leases[0]

    def _claim_in(
        self,
        session: Session,
        study: Study,
        requests: Sequence[ClaimRequest],
        now: datetime,
        lease_seconds: float | None = None,
    ) -> list[Lease]:
        """Under the study lock: leases for the first of `requests`, as many as the study has
        room for: queued trials first, then new ones from one sampler ask. Reads O(active
        trials) rows, never the whole history (see `read_active`). `study` may be a transient
        snapshot (`lock_study_snapshot`): it is only read here."""
        if study.state is not StudyState.RUNNING or not requests:
            return []
        if study.max_seconds is not None and time_spent(session, study, now):
            self._finish_in_claim(session, study.id, now)  # no trial starts past the budget
            return []
        active = read_active(session, study.id)
        wanted = min(len(requests), study.max_parallel - active.running)
        if wanted <= 0:
            return []
        expiry = now + (timedelta(seconds=lease_seconds) if lease_seconds else self.lease)

        def columns_for(request: ClaimRequest) -> dict[str, Any]:
            return lease_columns(request.worker_id, request.devices, now, expiry)

        leases: list[Lease] = []
        for _ in range(min(wanted, active.queued)):
            trial = repo.next_queued_trial(session, study.id)
            if trial is None:
                break
            trial.state = TrialState.RUNNING
            for name, value in columns_for(requests[len(leases)]).items():
                setattr(trial, name, value)
            session.flush()
            leases.append(lease_of(trial, study.spec))
        new = min(wanted - len(leases), target_trials(study) - active.created)
        # Raises `SamplerFailed` out of the claim's transaction (see `serve_batch`).
        suggested = self.suggestions.suggest(session, study, active, new) if new > 0 else []
        if not leases and not suggested:
            self._finish_in_claim(session, study.id, now)  # budget used or sampler exhausted
            return []
        rows = []
        for i, params in enumerate(suggested):
            digest = repo.params_hash(params)
            rows.append(
                {
                    "study_id": study.id,
                    "number": active.created + i,
                    "params": params,
                    "params_hash": digest,
                    "dedup_key": digest if study.sampler == "grid" else None,
                    "state": TrialState.RUNNING,
                    "attempt": 1,
                    **columns_for(requests[len(leases) + i]),
                }
            )
        trial_ids = claim_path.insert_running_trials(session, rows) if rows else []
        sync_reports = reports_answered(study.spec)
        for trial_id, row in zip(trial_ids, rows, strict=True):
            params = row["params"]
            self.suggestions.claimed(study.id, trial_id, params)
            leases.append(
                Lease(
                    trial_id=trial_id,
                    study_id=study.id,
                    number=row["number"],
                    attempt=1,
                    params=dict(params),
                    config=training_config(study.spec, params),
                    lease_token=str(row["lease_token"]),
                    lease_expires_at=expiry,
                    sync_reports=sync_reports,
                )
            )
        return leases

    def _finish_in_claim(self, session: Session, study_id: int, now: datetime) -> None:
        """A claim found the study's budget used or its sampler exhausted: complete it if
        nothing is left running, and drop its sampler (harmless if this rolls back: the next
        claim rebuilds it)."""
        study = repo.get_study(session, study_id)
        finish_study_if_done(session, study, now)
        if study.state is StudyState.COMPLETED:
            self.suggestions.forget(study_id)


def commit_without_flush_wait(session: Session) -> None:
    """PostgreSQL: this transaction's COMMIT returns (and releases the study lock) without
    waiting for its WAL to reach the disk, a flush of several milliseconds during which every
    other claimer of the study would wait on the lock. For claims only: the next transaction
    that commits normally, such as the complete that brings the trial's result, flushes the
    WAL up to and including this claim, so a result is never acknowledged before its claim is
    durable. What a crash of PostgreSQL itself can lose is a claim of the last fraction of a
    second (`wal_writer_delay`): its worker's next call then gets 404 or 409 (its lease token
    is unknown) and it drops the trial, as after any lost lease. SQLite in WAL mode with
    synchronous=NORMAL already commits this way."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
