"""One slot's loop: claim a trial, train it (hpo.worker.trial), send how it ended, repeat."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType

from hpo.claim_backoff import ClaimBackoff, claim_answer_is_retried
from hpo.client import ApiError, Client
from hpo.command_spec import task_kind
from hpo.errors import one_line
from hpo.outage import Outage
from hpo.wire import Lease
from hpo.worker.command import AttemptHooks, run_command
from hpo.worker.command_files import CommandAttemptFiles
from hpo.worker.options import WorkerOptions
from hpo.worker.process import kill_running_scripts
from hpo.worker.trial import LEASE_GONE, Outcome, train

log = logging.getLogger("hpo.worker")


class _Stop:
    """Signal state: the first signal asks to stop after the epoch, the second exits now.
    While the API is unreachable the first one exits now too: nothing could be handed back,
    and retrying would hold the worker for as long as the outage lasts."""

    def __init__(self, api_unreachable: Callable[[], bool] = lambda: False) -> None:
        self.requested = threading.Event()
        self.api_unreachable = api_unreachable

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            log.warning("second signal: exiting now; the lease will expire and be requeued")
            kill_running_scripts()  # a command trial's script must not outlive the worker
            os._exit(128 + signum)
        if self.api_unreachable():
            log.warning("API unreachable: exiting now; the lease will expire and be requeued")
            kill_running_scripts()
            os._exit(128 + signum)
        log.warning("stopping after the current epoch (signal again to exit at once)")
        self.requested.set()


class Worker:
    """One slot: the claim -> train -> report -> complete loop."""

    def __init__(self, options: WorkerOptions, client: Client | None = None) -> None:
        self.options = options
        self.outage = Outage(give_up_after=options.give_up_after_seconds)
        # Claims and results: retried until the API answers (or the worker gives up).
        self.client = client or self._client(retries=None)
        # Heartbeats and reports: a few tries, then training goes on.
        self.reporter = client or self._client(retries=2)
        self.worker_id = (
            options.worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.host = socket.gethostname()
        self.stop = _Stop(api_unreachable=lambda: self.outage.seconds > 0)
        self.trials_done = 0
        self.backoff = ClaimBackoff(
            options.claim_backoff_seconds, options.max_claim_backoff_seconds
        )
        # Around each command-trial attempt: its log streamed, its checkpoints and outputs kept.
        self.attempt_hooks: AttemptHooks | None = CommandAttemptFiles(self.reporter, self.outage)
        # What this worker runs: command trials only when given folders to run them in.
        self.task_kinds = ("builtin", "command") if options.allow_commands else ("builtin",)
        # How long a claim (and a complete-and-claim's claim) may be held by the API when
        # there is no work. Exit-when-idle asks once: a held claim would only delay the exit.
        self.wait_seconds = 0.0 if options.exit_when_idle else options.wait_seconds

    def _client(self, retries: int | None) -> Client:
        options = self.options
        return Client(
            options.api,
            token=options.token,
            retries=retries,
            backoff_seconds=options.first_backoff_seconds,
            max_backoff_seconds=options.max_backoff_seconds,
            outage=self.outage,
        )

    def run(self) -> int:
        """Loop until stopped, out of work (exit_when_idle) or max_trials. Returns 0."""
        self.stop.install()
        device = _resolve_device(self.options.device)
        if self.options.warm_up:
            _warm_up(device)
        log.info(
            "worker %s on %s polling %s for pools %s",
            self.worker_id,
            device,
            self.options.api,
            ",".join(self.options.pools),
        )
        wait = self.wait_seconds
        lease: Lease | None = None  # the next trial, handed out with a result
        while not self.stop.requested.is_set():
            if self._at_max_trials():
                break
            if lease is None:
                asked = time.monotonic()
                try:
                    lease = self.client.claim(
                        self.worker_id,
                        host=self.host,
                        devices=[device],
                        wait_seconds=wait,
                        pools=self.options.pools,
                        task_kinds=self.task_kinds,
                    )
                except ApiError as e:
                    if not claim_answer_is_retried(e):
                        raise
                    self.stop.requested.wait(self.backoff.after(e))
                    continue
                self.backoff.reset()
            if lease is None:
                if self.options.exit_when_idle:
                    break
                self.stop.requested.wait(_idle_pause(wait, time.monotonic() - asked, self.options))
                continue
            lease = self.run_trial(lease, device)
            self.trials_done += 1
        if lease is not None:
            # Stopped holding a trial not started yet: give it back (requeued at once).
            self.send(lease, Outcome.failed("lost", "worker stopped"), device)
        return 0

    def _at_max_trials(self, after: int = 0) -> bool:
        limit = self.options.max_trials
        return limit is not None and self.trials_done + after >= limit

    def run_trial(self, lease: Lease, device: str) -> Lease | None:
        """Train one leased trial and send how it ended. Returns the next trial when the
        result went with a claim (`complete-and-claim`), else None (the loop claims)."""
        if task_kind(lease.config.get("task") or {}) == "command":
            outcome = run_command(
                lease,
                device,
                self.options,
                reporter=self.reporter,
                outage=self.outage,
                stop=self.stop.requested,
                hooks=self.attempt_hooks,
            )
        else:
            outcome = train(
                lease,
                device,
                self.options,
                reporter=self.reporter,
                outage=self.outage,
                stop=self.stop.requested,
            )
        return self.send(lease, outcome, device)

    def send(self, lease: Lease, outcome: Outcome, device: str) -> Lease | None:
        """Send an outcome: a failure as `fail`, a result as `complete-and-claim` (or
        `complete` alone when this worker stops after it). Each request is retried until the
        API answers; a refusal because the lease is gone is logged and dropped. Returns the
        next lease when one came with the result."""
        trial_id, token = lease.trial_id, lease.lease_token
        if outcome.kind in ("pruned", "abandoned"):
            return None  # the API already knows (a pruned report) or the trial is not ours
        if outcome.kind == "failed":
            failure, message = outcome.failure_class, outcome.message
            self._finish(lambda: self.client.fail(trial_id, token, failure, message))
            return None
        assert outcome.value is not None  # a completed outcome carries its value
        value, metrics, reports = outcome.value, outcome.metrics, outcome.reports
        if self.stop.requested.is_set() or self._at_max_trials(after=1):
            self._finish(lambda: self.client.complete(trial_id, token, value, metrics, reports))
            return None
        # The result and the next claim in one request.
        following: list[Lease | None] = [None]

        def complete_and_claim() -> None:
            try:
                _, following[0] = self.client.complete_and_claim(
                    trial_id,
                    token,
                    value,
                    metrics,
                    self.worker_id,
                    self.host,
                    [device],
                    pools=self.options.pools,
                    task_kinds=self.task_kinds,
                    reports=reports,
                    wait_seconds=self.wait_seconds,  # held like a claim when no work is left
                )
            except ApiError as e:
                if not claim_answer_is_retried(e):
                    raise
                # The claim half may be what failed: send the result alone (a retry of a
                # complete that landed is a no-op); the loop claims, backing off.
                log.warning("complete-and-claim answered %s: sending the result alone", e.status)
                self.client.complete(trial_id, token, value, metrics, reports)

        if not self._finish(complete_and_claim):
            # The result was refused (lease lost): nothing was claimed; the loop claims.
            return None
        return following[0]

    def _finish(self, send: Callable[[], object]) -> bool:
        """Send a trial's result; False if it was refused because the lease is gone."""
        try:
            send()
        except ApiError as e:
            if e.status not in LEASE_GONE:
                raise
            log.warning("result refused (%s): the trial was requeued or finished elsewhere", e)
            return False
        return True


def _idle_pause(wait: float, held: float, options: WorkerOptions) -> float:
    """How long to pause after a claim that found no work. Polling: `poll_seconds`. Long-poll:
    none when the API held the claim its full wait; a server that answered sooner (its cap
    is lower, or it predates long-poll) gets the rest, up to `poll_seconds`, not a hot loop."""
    if wait <= 0:
        return options.poll_seconds
    return max(0.0, min(wait - held, options.poll_seconds))


def _warm_up(device: str) -> None:
    """Import torch and the trainers and train one tiny batch before the first claim. A
    failure is logged, not fatal: the trial itself reports what is wrong."""
    try:
        from trainers.warmup import warm_up

        seconds = warm_up(device)
    except Exception as e:  # any failure here only loses the warm-up
        log.warning("warm-up on %s failed (%s); claiming anyway", device, one_line(str(e)))
        return
    log.info("ready in %.2f s (warm-up on %s)", seconds, device)


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"
