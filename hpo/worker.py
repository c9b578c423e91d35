"""The worker: pull a trial, train it, report each epoch, complete. Speaks HTTP only.

`hpo worker --api URL` runs one slot in this process on the CPU, or, with GPUs, one child
process per slot (`--slots-per-device K` per GPU), each pinned with CUDA_VISIBLE_DEVICES.

Signals: the first SIGTERM/SIGINT lets the current epoch finish, fails the trial as `lost`
(the API requeues it at once, same params) and exits; a second one exits at once (the lease
then expires and the reaper requeues the trial). A 409 (lease lost: the trial was requeued or
the study cancelled) or a 404 (the trial is gone: its study was deleted, or a database crash
lost a claim not yet flushed) abandons the trial.

An unreachable API (a restart, a network cut) is waited out: claims and results are retried
with capped backoff until it answers (`Outage` says so once a minute), or until
`give_up_after_seconds` when set (then `ApiGaveUp`). Heartbeats and reports try a few times
and let training go on: the next one comes soon, and the result is what must arrive.

User datasets are read only inside `data_roots` (trainers.data._locate), because a study's
spec, which names the file, comes from the API and its failure messages are published.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from hpo.claim_backoff import ClaimBackoff, claim_answer_is_retried
from hpo.client import ApiError, ApiUnreachable, Client
from hpo.errors import HpoError, one_line
from hpo.outage import Outage

log = logging.getLogger("hpo.worker")

# Answers that mean "this trial is no longer yours": abandon it and claim the next.
# 409: the lease expired (requeued) or the study was cancelled; 404: the trial is gone.
LEASE_GONE = frozenset({404, 409})


@dataclass(frozen=True)
class WorkerOptions:
    api: str
    token: str | None = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 1  # CPU threads per slot: small models train faster on one or two
    poll_seconds: float = 2.0  # wait between claims when there is no work
    max_trials: int | None = None  # stop after this many trials (tests, batch jobs)
    exit_when_idle: bool = False  # stop at the first claim that finds no work
    heartbeat_seconds: float = 20.0
    worker_id: str = ""
    cache_dir: str | None = None
    data_roots: tuple[str, ...] = ()  # the only folders user datasets are read from
    first_backoff_seconds: float = 1.0  # an unreachable API: wait this, doubling, ...
    max_backoff_seconds: float = 30.0  # ... up to this between attempts
    give_up_after_seconds: float | None = None  # exit after this long unreachable; None: never
    claim_backoff_seconds: float = 1.0  # first wait after a claim the API failed (doubles)
    max_claim_backoff_seconds: float = 60.0


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
            os._exit(128 + signum)
        if self.api_unreachable():
            log.warning("API unreachable: exiting now; the lease will expire and be requeued")
            os._exit(128 + signum)
        log.warning("stopping after the current epoch (signal again to exit at once)")
        self.requested.set()


class _Heartbeat(threading.Thread):
    """Renews the lease while an epoch runs (a long epoch must not look like a dead worker)."""

    def __init__(self, client: Client, trial_id: int, token: str, every: float) -> None:
        super().__init__(name=f"heartbeat-{trial_id}", daemon=True)
        self.client, self.trial_id, self.token, self.every = client, trial_id, token, every
        self.done = threading.Event()
        self.lease_lost = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.every):
            try:
                self.client.heartbeat(self.trial_id, self.token)
            except ApiError as e:
                if e.status in LEASE_GONE:
                    self.lease_lost.set()
                    return
            except ApiUnreachable:
                pass  # an outage: said once a minute by the worker's Outage
            except HpoError as e:
                log.warning("heartbeat failed: %s", e)


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
        log.info("worker %s on %s polling %s", self.worker_id, device, self.options.api)
        lease: dict[str, Any] | None = None  # the next trial, handed out with a result
        while not self.stop.requested.is_set():
            if self._at_max_trials():
                break
            if lease is None:
                try:
                    lease = self.client.claim(self.worker_id, host=self.host, devices=[device])
                except ApiError as e:
                    if not claim_answer_is_retried(e):
                        raise
                    self.stop.requested.wait(self.backoff.after(e))
                    continue
                self.backoff.reset()
            if lease is None:
                if self.options.exit_when_idle:
                    break
                self.stop.requested.wait(self.options.poll_seconds)
                continue
            lease = self.run_trial(lease, device)
            self.trials_done += 1
        if lease is not None:
            # Stopped holding a trial not started yet: give it back (requeued at once).
            trial_id, token = int(lease["trial_id"]), str(lease["lease_token"])
            self._finish(lambda: self.client.fail(trial_id, token, "lost", "worker stopped"))
        return 0

    def _at_max_trials(self, after: int = 0) -> bool:
        limit = self.options.max_trials
        return limit is not None and self.trials_done + after >= limit

    def run_trial(self, lease: dict[str, Any], device: str) -> dict[str, Any] | None:
        """Train one leased trial and report how it ended. Returns the next trial when the
        result went with a claim (`complete-and-claim`), else None (the loop claims)."""
        trial_id, token = int(lease["trial_id"]), str(lease["lease_token"])
        log.info("trial %s (study %s): %s", trial_id, lease["study_id"], lease["params"])
        heartbeat = _Heartbeat(self.reporter, trial_id, token, self._heartbeat_every(lease))
        heartbeat.start()
        pruned = False
        abandoned = False

        def on_epoch(epoch: int, value: float, _train_loss: float) -> bool:
            nonlocal pruned, abandoned
            if heartbeat.lease_lost.is_set():
                abandoned = True
                return True
            if self.outage.seconds > 0:
                # The API is unreachable: no epoch waits on a report. The heartbeat sees when
                # it is back; the result is retried until it lands.
                return self.stop.requested.is_set()
            try:
                pruned = self.reporter.report(trial_id, token, epoch, value)
            except ApiError as e:
                if e.status not in LEASE_GONE:
                    raise
                abandoned = True
                return True
            except ApiUnreachable:
                pass  # an outage: train on, the result is retried until it lands
            except HpoError as e:
                # A report that could not be sent is not worth the trial: train on.
                log.warning("report failed: %s", e)
            return pruned or self.stop.requested.is_set()

        try:
            from trainers.config import build_run_config, run_training
            from trainers.errors import ConfigError

            try:
                cfg = build_run_config(lease["config"], device=device, threads=self.options.threads)
                cache = None if self.options.cache_dir is None else _path(self.options.cache_dir)
                roots = [_path(root) for root in self.options.data_roots]
                result = run_training(cfg, on_epoch, cache_dir=cache, data_roots=roots)
            except ConfigError as e:
                # Our own messages: they say what failed, never what a user file holds.
                reason = str(e)
                log.warning("trial %s failed (config): %s", trial_id, reason)
                self._finish(lambda: self.client.fail(trial_id, token, "config", reason))
                return None
            except Exception:
                message = traceback.format_exc(limit=5)
                log.error("trial %s failed (internal): %s", trial_id, one_line(message))
                log.debug("trial %s traceback:\n%s", trial_id, message)
                self._finish(lambda: self.client.fail(trial_id, token, "internal", message))
                return None
        finally:
            heartbeat.done.set()
        if abandoned or pruned:
            log.info("trial %s %s", trial_id, "pruned" if pruned else "abandoned (lease lost)")
            return None
        if self.stop.requested.is_set():
            self._finish(lambda: self.client.fail(trial_id, token, "lost", "worker stopped"))
            return None
        if result.status in ("diverged", "oom"):
            log.warning("trial %s failed (%s): %s", trial_id, result.status, result.message)
            self._finish(lambda: self.client.fail(trial_id, token, result.status, result.message))
            return None
        metric = cfg.train.metric
        value = result.val_accuracy if metric == "val_accuracy" else result.val_loss
        if value is None:
            self._finish(
                lambda: self.client.fail(trial_id, token, "internal", "no validation metric")
            )
            return None
        metrics = {k: v for k, v in result.to_dict().items() if k not in ("config", "history")}
        metrics["curve"] = [r.val_accuracy for r in result.history]
        log.info("trial %s completed: %s=%.4f", trial_id, metric, value)
        if self.stop.requested.is_set() or self._at_max_trials(after=1):
            self._finish(lambda: self.client.complete(trial_id, token, float(value), metrics))
            return None
        # The result and the next claim in one request.
        following: list[dict[str, Any] | None] = [None]

        def complete_and_claim() -> None:
            try:
                _, following[0] = self.client.complete_and_claim(
                    trial_id, token, float(value), metrics, self.worker_id, self.host, [device]
                )
            except ApiError as e:
                if not claim_answer_is_retried(e):
                    raise
                # The claim half may be what failed: send the result alone (a retry of a
                # complete that landed is a no-op); the loop claims, backing off.
                log.warning("complete-and-claim answered %s: sending the result alone", e.status)
                self.client.complete(trial_id, token, float(value), metrics)

        if not self._finish(complete_and_claim):
            # The result was refused (lease lost): nothing was claimed; the loop claims.
            return None
        return following[0]

    def _heartbeat_every(self, lease: dict[str, Any]) -> float:
        """A third of the lease (so two heartbeats may fail before it expires), capped by
        the configured interval."""
        from datetime import UTC, datetime

        expires = datetime.fromisoformat(str(lease["lease_expires_at"]))
        remaining = (expires - datetime.now(UTC)).total_seconds()
        return max(0.2, min(self.options.heartbeat_seconds, remaining / 3))

    def _finish(self, send: Any) -> bool:
        """Send a trial's result; False if it was refused because the lease is gone."""
        try:
            send()
        except ApiError as e:
            if e.status not in LEASE_GONE:
                raise
            log.warning("result refused (%s): the trial was requeued or finished elsewhere", e)
            return False
        return True


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text)


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


# -- several slots ---------------------------------------------------------------------------
def visible_gpus(gpus: str) -> list[str]:
    """GPU indices to use: "all" (every GPU torch sees) or "0,1"."""
    if gpus != "all":
        return [g.strip() for g in gpus.split(",") if g.strip()]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def supervise(options: WorkerOptions, gpus: list[str], slots_per_device: int) -> int:
    """Run one child process per slot, each pinned to its GPU; forward signals to them."""
    children: list[subprocess.Popen[bytes]] = []
    for gpu in gpus:
        for slot in range(slots_per_device):
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
            argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", options.api,
                    "--device", "cuda:0", "--slots-per-device", "1", "--gpus", "none",
                    "--threads", str(options.threads)]  # fmt: skip
            if options.max_trials is not None:
                argv += ["--max-trials", str(options.max_trials)]
            if options.exit_when_idle:
                argv.append("--exit-when-idle")
            argv += ["--poll-seconds", str(options.poll_seconds),
                     "--max-backoff", str(options.max_backoff_seconds)]  # fmt: skip
            if options.give_up_after_seconds is not None:
                argv += ["--give-up-after", str(options.give_up_after_seconds)]
            for root in options.data_roots:
                argv += ["--data-root", root]
            # Never on the command line: any user of the machine can read it there (ps).
            # The slot takes the token this worker resolved, not whatever HPO_TOKEN says.
            env.pop("HPO_WORKER_TOKEN", None)
            env.pop("HPO_TOKEN", None)
            if options.token:
                env["HPO_WORKER_TOKEN"] = options.token
            log.info("starting slot %d on GPU %s", slot, gpu)
            children.append(subprocess.Popen(argv, env=env))

    def forward(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    while any(child.poll() is None for child in children):
        time.sleep(0.2)
    return max(codes, default=0)
