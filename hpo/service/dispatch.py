"""The worker protocol: claim (sampling at claim time), heartbeat, report (pruning), complete,
fail, and the reaper that requeues trials whose lease expired.

Every claim returns a lease token and an expiry. Heartbeats and reports renew the lease; a
report, heartbeat, complete or fail with a stale or wrong token gets `LeaseError` (409) and
changes nothing. A retried complete that already landed (same token, same value) is a no-op.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hpo.errors import ConflictError, DatabaseUnavailable, LeaseError, ValidationError
from hpo.pruners import make_pruner
from hpo.samplers import SamplerRegistry, default_registry
from hpo.service._common import (
    finish_study_if_done,
    require_state,
    target_trials,
    training_config,
)
from hpo.service.claim_fields import check_claim_fields
from hpo.service.combining import Combiner
from hpo.service.failures import pause_after_config_errors
from hpo.service.lease_binding import bind_next_lease, bound_next_lease, lease_of
from hpo.service.metrics import Metrics
from hpo.service.prefetch import Prefetcher
from hpo.service.sampler_failures import SamplerFailed, pause_for_sampler_failure
from hpo.service.sampling import CHEAP_SAMPLERS, ActiveTrials, SamplerCache, read_active
from hpo.service.tokens import same_secret
from hpo.service.views import Lease, TrialView
from hpo.storage import (
    Database,
    FailureClass,
    Study,
    StudyState,
    Trial,
    TrialState,
    lock_least_busy_study,
    lock_study,
    lock_study_snapshot,
    utcnow,
)
from hpo.storage import repositories as repo
from hpo.storage.repositories import claim_path

# Failure classes a worker may report, and whether the trial is retried.
RETRIED = frozenset({FailureClass.LOST})

# A worker's row (host, devices, last seen) is refreshed by its claims at most this often:
# every claim of a busy worker would otherwise add an upsert (two statements) to the claim.
WORKER_SEEN_INTERVAL_S = 5.0


# Claim batches one process runs at once (see `hpo.service.combining`): more than one, so that a
# batch stuck in a slow ask (GP on a big study, under that study's lock) does not hold up the
# claims of other studies, which the next batch serves by skipping the locked study.
CLAIM_BATCHES_AT_ONCE = 4

# A claim that meets studies whose sampler fails pauses each and tries again (see
# `sampler_failures`); past this many in one claim, it answers no work (204) this time.
MAX_STUDIES_PAUSED_PER_CLAIM = 32


@dataclass(frozen=True)
class _ClaimRequest:
    worker_id: str
    host: str
    devices: tuple[str, ...]
    completed_trial_id: int | None = None  # complete-and-claim: the lease is recorded there


@dataclass(frozen=True)
class _Seen:
    at: float  # time.monotonic() of the last upsert
    host: str
    devices: tuple[str, ...]


# `SamplerCache.prepare`'s outcome -> the counter it adds to (hpo_suggestions_<name>_total).
_PREPARE_METRIC = {"prepared": "prepared", "current": "current", "no_room": "skipped_no_room"}


class Dispatcher:
    """Hands trials to workers and takes their results back.

    `clock` is injectable so tests can expire leases without sleeping.
    """

    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 120.0,
        registry: SamplerRegistry | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        prepare_suggestions: bool | None = None,
        sampler_cache_max_observations: int = 200_000,
    ) -> None:
        """`prepare_suggestions`: ask model-based samplers in a background thread as soon as
        a result comes in (see `hpo.service.sampling`); default on, except on a `Database`
        bound to one test connection, which a second thread must not share."""
        self.db = db
        self.lease = timedelta(seconds=lease_seconds)
        self.registry = registry or default_registry()
        self.samplers = SamplerCache(self.registry, max_observations=sampler_cache_max_observations)
        self.metrics = metrics or Metrics()
        self.clock = clock
        if prepare_suggestions is None:
            prepare_suggestions = not _shares_one_connection(db)
        # Started at once, not after a pause that would let the answer to the result's request
        # go out first: the same worker's next claim usually follows within milliseconds, and
        # waiting for the ask already under way beats starting a second one (measured: the
        # back-to-back rows of bench/suggest_path.py).
        self.prefetcher = Prefetcher(self._prepare) if prepare_suggestions else None
        self._seen: dict[str, _Seen] = {}
        self._claims: Combiner[_ClaimRequest, Lease | None] = Combiner(
            self._claim_batch,
            max_running=CLAIM_BATCHES_AT_ONCE,
            # A batch that failed for one member's sake is rerun member by member; with the
            # database down, each would only fail again.
            rerun_alone=lambda error: not isinstance(error, DatabaseUnavailable),
        )

    # -- claiming ------------------------------------------------------------------------
    def claim(
        self, worker_id: str, *, host: str = "", devices: tuple[str, ...] = ()
    ) -> Lease | None:
        """A trial for this worker from the least busy runnable study, or None (HTTP 204).

        Studies are tried least-busy first (fair sharing); a study locked by another claimer
        is skipped, not waited for (PostgreSQL SKIP LOCKED), so claimers spread over studies.
        Claims that arrive while another is running are served together by the next one,
        in one transaction (see `hpo.service.combining`). The fields are checked first
        (`claim_fields`): a value the database refuses must not fail the others' claims.
        """
        check_claim_fields(worker_id, host, devices)
        return self._claims.submit(_ClaimRequest(worker_id, host, tuple(devices)))

    def _claim_batch(self, requests: Sequence[_ClaimRequest]) -> list[Lease | None]:
        """Serve claims in one transaction: one lock and one sampler ask per study for all.
        A study whose sampler fails is paused, and the claims are served again without it."""
        for _ in range(MAX_STUDIES_PAUSED_PER_CLAIM):
            try:
                return self._claim_batch_once(requests)
            except SamplerFailed as failure:  # rolled back: pause it, then serve the claims
                pause_for_sampler_failure(self.db, failure, self.metrics)
        return [None] * len(requests)

    def _claim_batch_once(self, requests: Sequence[_ClaimRequest]) -> list[Lease | None]:
        stale: dict[str, _Seen] = {}
        for request in requests:
            seen = _Seen(time.monotonic(), request.host, request.devices)
            if self._worker_row_stale(request.worker_id, seen):
                stale[request.worker_id] = seen
        with self.db.transaction() as session:
            _commit_without_flush_wait(session)
            now = self.clock()
            for worker_id, seen in stale.items():
                repo.touch_worker(
                    session, worker_id, host=seen.host, devices=list(seen.devices), now=now
                )
            leases = self._claim_any(session, requests, now)
            for request, lease in zip(requests, leases, strict=True):
                if request.completed_trial_id is not None:
                    bind_next_lease(session, request.completed_trial_id, lease)
        self._seen.update(stale)  # committed: the rows are at most this old
        given = sum(1 for lease in leases if lease is not None)
        self.metrics.inc("hpo_claims_total", given)
        self.metrics.inc("hpo_claims_empty_total", len(leases) - given)
        self.metrics.inc("hpo_claim_batches_total")
        return leases

    def _claim_any(
        self, session: Session, requests: Sequence[_ClaimRequest], now: datetime
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
        study = lock_least_busy_study(session, skip_locked=True)
        if study is None and not self.db.is_sqlite:  # SQLite locks nothing per study
            study = lock_least_busy_study(session, skip_locked=False)
        if study is None:
            return leases  # no claimable study
        take(study)
        if served == len(requests):
            return leases
        # That study had no trial (or not enough) to give: budget used, grid exhausted, or
        # full. Try the others, least busy first, as above.
        tried = {study.id}
        skipped: list[int] = []
        for study_id in repo.claimable_study_ids(session):
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

    def _worker_row_stale(self, worker_id: str, seen: _Seen) -> bool:
        last = self._seen.get(worker_id)
        if len(self._seen) > 100_000:  # bounded memory whatever the worker ids
            self._seen.clear()
        return (
            last is None
            or seen.at - last.at >= WORKER_SEEN_INTERVAL_S
            or (last.host, last.devices) != (seen.host, seen.devices)
        )

    def ask(
        self, study_id: int, *, worker_id: str = "ask-tell", lease_seconds: float | None = None
    ) -> Lease:
        """A trial of one study for the user's own code (ask/tell). 409 when the study has no
        room: paused, finished, at max_parallel, or its budget used."""
        try:
            with self.db.transaction() as session:
                _commit_without_flush_wait(session)
                study = lock_study(session, study_id)
                if study.state is not StudyState.RUNNING:
                    raise ConflictError(f"study {study_id} is {study.state}: nothing to ask")
                request = _ClaimRequest(worker_id, "", ())
                leases = self._claim_in(session, study, [request], self.clock(), lease_seconds)
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
        requests: Sequence[_ClaimRequest],
        now: datetime,
        lease_seconds: float | None = None,
    ) -> list[Lease]:
        """Under the study lock: leases for the first of `requests`, as many as the study has
        room for: queued trials first, then new ones from one sampler ask. Reads O(active
        trials) rows, never the whole history (see `read_active`). `study` may be a transient
        snapshot (`lock_study_snapshot`): it is only read here."""
        if study.state is not StudyState.RUNNING or not requests:
            return []
        active = read_active(session, study.id)
        wanted = min(len(requests), study.max_parallel - active.running)
        if wanted <= 0:
            return []
        expiry = now + (timedelta(seconds=lease_seconds) if lease_seconds else self.lease)

        def lease_columns(request: _ClaimRequest) -> dict[str, Any]:
            return {
                "lease_token": secrets.token_urlsafe(24),
                "lease_expires_at": expiry,
                "worker_id": request.worker_id,
                "device": request.devices[0] if request.devices else None,
                "started_at": now,
            }

        leases: list[Lease] = []
        for _ in range(min(wanted, active.queued)):
            trial = repo.next_queued_trial(session, study.id)
            if trial is None:
                break
            columns = lease_columns(requests[len(leases)])
            trial.state = TrialState.RUNNING
            for name, value in columns.items():
                setattr(trial, name, value)
            session.flush()
            leases.append(lease_of(trial, study.spec))
        new = min(wanted - len(leases), target_trials(study) - active.created)
        # Raises `SamplerFailed` out of the claim's transaction (see `_claim_batch`).
        suggested = self._suggest(session, study, active, new) if new > 0 else []
        if not leases and not suggested:
            self._finish_in_claim(session, study.id)  # budget used or sampler exhausted
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
                    **lease_columns(requests[len(leases) + i]),
                }
            )
        trial_ids = claim_path.insert_running_trials(session, rows) if rows else []
        for trial_id, row in zip(trial_ids, rows, strict=True):
            params = row["params"]
            self.samplers.claimed(study.id, trial_id, params)
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
                )
            )
        return leases

    def _finish_in_claim(self, session: Session, study_id: int) -> None:
        """A claim found the study's budget used or its sampler exhausted: complete it if
        nothing is left running, and drop its sampler (harmless if this rolls back: the next
        claim rebuilds it)."""
        study = repo.get_study(session, study_id)
        finish_study_if_done(session, study)
        if study.state is StudyState.COMPLETED:
            self.samplers.forget(study_id)

    def _suggest(
        self, session: Session, study: Study, active: ActiveTrials, n: int
    ) -> list[dict[str, Any]]:
        """Up to `n` distinct configurations from the study's sampler, told the whole history
        with the pending trials (so parallel workers get distinct suggestions); fewer (none)
        when the sampler is exhausted. See `sampling`."""
        started = time.perf_counter()
        used_before = self.samplers.prepared_used
        suggested = self.samplers.suggest(session, study, active, n)
        self.metrics.observe("hpo_ask_seconds", time.perf_counter() - started)
        if self.samplers.prepared_used != used_before:
            self.metrics.inc("hpo_suggestions_prepared_used_total")
        return suggested

    def _result_in(self, study: Study) -> None:
        self._result_of(study.id, study.state, study.sampler)

    def _result_of(self, study_id: int, state: StudyState, sampler: str) -> None:
        """A result changed the study's history: prepare its next suggestion (after the
        commit, so the background read sees it), or drop its sampler if the study is over."""
        if state in (StudyState.COMPLETED, StudyState.CANCELLED):
            self.samplers.forget(study_id)
            return
        if (
            self.prefetcher is not None
            and state is StudyState.RUNNING
            and sampler not in CHEAP_SAMPLERS
        ):
            self.prefetcher.schedule(study_id)

    def _prepare(self, study_id: int) -> None:
        with self.db.transaction(write=False) as session:
            study = repo.get_study(session, study_id)
            if study.state is not StudyState.RUNNING:
                return
            started = time.thread_time()
            outcome = self.samplers.prepare(session, study)
            # The background thread's CPU competes with training on the same cores: count it.
            self.metrics.inc(
                "hpo_suggestion_prepare_cpu_seconds_total", time.thread_time() - started
            )
            self.metrics.inc(f"hpo_suggestions_{_PREPARE_METRIC[outcome]}_total")

    # -- the running trial -----------------------------------------------------------------
    def heartbeat(self, trial_id: int, token: str) -> datetime:
        """Renew the lease; returns the new expiry."""
        with self.db.transaction() as session:
            trial = self._leased(session, trial_id, token, "heartbeat")
            trial.lease_expires_at = self.clock() + self.lease
            return trial.lease_expires_at

    def report(self, trial_id: int, token: str, step: int, value: float) -> bool:
        """Record an intermediate value; renews the lease; returns should_prune. A trial the
        pruner stops is marked pruned at once (its last value counts): the worker just stops."""
        if not math.isfinite(value):
            raise ValidationError(
                f"report value {value!r} is not finite: fail the trial with failure_class "
                "'diverged' instead"
            )
        with self.db.transaction() as session:
            trial = self._leased(session, trial_id, token, "report on")
            study = repo.get_study(session, trial.study_id)
            repo.record_report(session, trial, step, value)
            now = self.clock()
            trial.lease_expires_at = now + self.lease
            spec = study.spec.get("pruner") or {}
            pruner = make_pruner(
                spec.get("name", "none"), spec.get("options"), str(study.direction)
            )
            if not pruner.reads_reports:
                # No pruner: skip reading every report of the study, which grew each report's
                # work and transient memory with the study's history, on every report.
                return False
            session.flush()
            reports = repo.study_reports(session, study.id, max_step=step)
            if not pruner.should_prune(reports, trial.id, step):
                return False
            trial.state = TrialState.PRUNED
            trial.value = value
            trial.finished_at = now
            trial.lease_expires_at = None
            self.metrics.inc("hpo_trials_pruned_total")
            _finish_if_done(session, study)
        self._result_in(study)
        return True

    def complete(
        self, trial_id: int, token: str, value: float, metrics: Mapping[str, Any] | None = None
    ) -> TrialView:
        """Record the final value. Idempotent: repeating a complete that already landed
        (same token and value) returns the trial unchanged."""
        return self._complete(trial_id, token, value, metrics)[0]

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
    ) -> tuple[TrialView, Lease | None]:
        """`complete`, then `claim` for the same worker: one request per trial instead of two
        for a worker that goes on (its next trial, or None: no work right now).

        Idempotent as `complete` is: when the complete is a retry of one that already landed
        (the answer was lost on the way), the lease that the first attempt claimed, if still
        live, is handed out again rather than a second one, which would sit leased to nobody
        until it expired. That lease is found through the completed trial (whose token the
        retry proves it holds), never by `worker_id` (see `lease_binding`)."""
        check_claim_fields(worker_id, host, devices)
        view, retried = self._complete(trial_id, token, value, metrics)
        if retried:
            with self.db.transaction(write=False) as session:
                held = bound_next_lease(session, trial_id, token, self.clock())
            if held is not None:
                return view, held
        request = _ClaimRequest(worker_id, host, tuple(devices), completed_trial_id=trial_id)
        return view, self._claims.submit(request)

    def _complete(
        self, trial_id: int, token: str, value: float, metrics: Mapping[str, Any] | None
    ) -> tuple[TrialView, bool]:
        """`complete`, and whether it was a retry of a complete that already landed."""
        if not math.isfinite(value):
            raise ValidationError(
                f"value {value!r} is not finite: fail the trial with failure_class "
                "'diverged' instead"
            )
        try:
            with self.db.transaction() as session:
                row = claim_path.complete_running(
                    session, trial_id, value, metrics or {}, self.clock()
                )
                if row is None or not _token_matches(row.lease_token, token):
                    raise _NotThisLease  # rolls the update back
                state, sampler = StudyState(row.study_state), str(row.sampler)
                created = -1 if row.top_number is None else int(row.top_number) + 1
                if state is StudyState.RUNNING and (sampler == "grid" or created >= row.n_trials):
                    # Perhaps the study's last trial (a grid's target may be its size): count.
                    study = repo.get_study(session, row.study_id)
                    _finish_if_done(session, study)
                    state = study.state
                view = TrialView.of(row)
        except _NotThisLease:
            # 404, a wrong or stale token, a trial not running, or a retry of a complete that
            # already landed (returns the trial unchanged).
            with self.db.transaction() as session:
                return self._complete_other(session, trial_id, token, value), True
        self.metrics.inc("hpo_trials_completed_total")
        self._result_of(row.study_id, state, sampler)
        return view, False

    def _complete_other(
        self, session: Session, trial_id: int, token: str, value: float
    ) -> TrialView:
        """`complete` when the fast path's check failed: raises the right error, or returns
        the trial unchanged for a retry of a complete that already landed."""
        trial = repo.lock_trial(session, trial_id)
        _check_token(trial, token, "complete")
        if trial.state is TrialState.COMPLETED and trial.value == value:
            return TrialView.of(trial)  # a retry of a complete that already landed
        require_state(trial, (TrialState.RUNNING,), "complete")
        raise AssertionError(f"trial {trial_id}: running with this token, yet not completed")

    def fail(
        self, trial_id: int, token: str, failure_class: FailureClass | str, message: str = ""
    ) -> TrialView:
        """A classified failure. `lost` (the worker is stopping) requeues the trial at once
        with the same params, until max_attempts; every other class is final. A retry of a
        fail that already landed is a no-op."""
        failure = _failure_class(failure_class)
        with self.db.transaction() as session:
            trial = repo.lock_trial(session, trial_id)
            _check_token(trial, token, "fail")
            if trial.state is TrialState.FAILED and trial.failure_class is failure:
                return TrialView.of(trial)
            require_state(trial, (TrialState.RUNNING,), "fail")
            study = repo.get_study(session, trial.study_id)
            self._end_attempt(trial, study, failure, message[:4000])
            _finish_if_done(session, study)
            if trial.state is TrialState.FAILED and failure is FailureClass.CONFIG:
                pause_after_config_errors(session, study)  # a study that cannot succeed stops
            view = TrialView.of(trial)
        if trial.state is TrialState.FAILED:
            self._result_in(study)
        return view

    def _end_attempt(self, trial: Trial, study: Study, failure: FailureClass, message: str) -> None:
        now = self.clock()
        trial.lease_expires_at = None
        trial.failure_class = failure
        trial.failure_message = message or None
        if failure in RETRIED and trial.attempt < study.max_attempts:
            trial.state = TrialState.QUEUED
            trial.attempt += 1
            trial.lease_token = None
            trial.worker_id = None
            self.metrics.inc("hpo_trials_requeued_total")
            return
        if failure in RETRIED:
            trial.failure_message = (
                f"{message or 'lost'} (gave up after {trial.attempt} attempts, max_attempts="
                f"{study.max_attempts})"
            )
        trial.state = TrialState.FAILED
        trial.finished_at = now
        self.metrics.inc("hpo_trials_failed_total")

    def reap(self) -> int:
        """Requeue (or, past max_attempts, fail) trials whose lease expired. Returns how many."""
        over: list[int] = []
        with self.db.transaction() as session:
            expired = repo.expired_leases(session, self.clock())
            for trial in expired:
                study = repo.get_study(session, trial.study_id)
                self._end_attempt(trial, study, FailureClass.LOST, "lease expired")
                self.metrics.inc("hpo_lease_expiries_total")
                _finish_if_done(session, study)
                if study.state is StudyState.COMPLETED:
                    over.append(study.id)
        for study_id in over:
            self.samplers.forget(study_id)
        return len(expired)

    def _leased(self, session: Session, trial_id: int, token: str, action: str) -> Trial:
        trial = repo.lock_trial(session, trial_id)
        _check_token(trial, token, action)
        require_state(trial, (TrialState.RUNNING,), action)
        study_state = repo.get_study(session, trial.study_id).state
        if study_state is StudyState.CANCELLED:
            raise ConflictError(f"study {trial.study_id} was cancelled: stop this trial")
        return trial


class _NotThisLease(Exception):
    """Raised inside `complete`'s transaction to roll its update back: the trial is not
    running under the given token (handled by `_complete_other`)."""


def _finish_if_done(session: Session, study: Study) -> None:
    """`finish_study_if_done`, skipping its count of every trial by state while the study
    has fewer trials than its target (then it cannot be done): the highest trial number
    bounds the trial count, and is one index lookup."""
    if study.state is not StudyState.RUNNING:
        return
    if repo.next_trial_number(session, study.id) < target_trials(study):
        return
    finish_study_if_done(session, study)


def _commit_without_flush_wait(session: Session) -> None:
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


def _shares_one_connection(db: Database) -> bool:
    # `Database(engine, bind=connection)` (tests): every session runs on that one connection.
    return isinstance(db.sessions.kw.get("bind"), Connection)


def _token_matches(expected: str | None, given: str) -> bool:
    # Constant-time, on bytes: the token is a capability for this trial.
    return same_secret(expected, given or "")


def _check_token(trial: Trial, token: str, action: str) -> None:
    if not _token_matches(trial.lease_token, token):
        raise LeaseError(
            f"cannot {action} trial {trial.id}: the lease token is wrong or stale (the lease "
            "expired and the trial was requeued, or another worker holds it); abandon it"
        )


def _failure_class(value: FailureClass | str) -> FailureClass:
    try:
        return FailureClass(value)
    except ValueError as e:
        valid = ", ".join(c.value for c in FailureClass)
        raise ValidationError(f"unknown failure_class {value!r}: use one of {valid}") from e


__all__ = ["Dispatcher", "StudyState"]
