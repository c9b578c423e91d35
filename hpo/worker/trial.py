"""One leased trial, trained: the heartbeat that renews its lease, the report of each epoch,
and how the run ended as an `Outcome`. Nothing here sends the result: hpo.worker.loop does
(complete, complete-and-claim or fail), so what was trained and what was said about it can be
read, and tested, apart."""

from __future__ import annotations

import logging
import tempfile
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from hpo.client import ApiError, ApiUnreachable, Client
from hpo.errors import HpoError, one_line
from hpo.outage import Outage
from hpo.wire import Lease
from hpo.worker.checkpoints import CheckpointSync, restore_checkpoint, upload_outputs
from hpo.worker.logs import LogStreamer
from hpo.worker.options import WorkerOptions
from hpo.worker.reports import ReportSender

log = logging.getLogger("hpo.worker")

# Answers that mean "this trial is no longer yours": abandon it and claim the next.
# 409: the lease expired (requeued) or the study was cancelled; 404: the trial is gone.
LEASE_GONE = frozenset({404, 409})


@dataclass(frozen=True)
class Outcome:
    """How a trial run ended. `completed`: `value` (the study's metric) and `metrics`;
    `failed`: `failure_class` and `message`; `pruned`: the pruner stopped it (its last
    report already counts, nothing more to send); `abandoned`: the lease was lost (the API
    requeued the trial or it is gone: nothing to send either)."""

    kind: Literal["completed", "pruned", "failed", "abandoned"]
    value: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    failure_class: str = ""
    message: str = ""
    # Reports not sent yet (hpo.worker.reports): they go with a completed trial's result.
    reports: tuple[tuple[int, float], ...] = ()

    @classmethod
    def failed(cls, failure_class: str, message: str) -> Outcome:
        return cls("failed", failure_class=failure_class, message=message)


class Heartbeat(threading.Thread):
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


def heartbeat_every(lease: Lease, configured: float) -> float:
    """A third of the lease (so two heartbeats may fail before it expires), capped by
    the configured interval."""
    remaining = (lease.lease_expires_at - datetime.now(UTC)).total_seconds()
    return max(0.2, min(configured, remaining / 3))


def train(
    lease: Lease,
    device: str,
    options: WorkerOptions,
    *,
    reporter: Client,
    outage: Outage,
    stop: threading.Event,
) -> Outcome:
    """Train the leased trial, reporting each epoch through `reporter` (a few tries each:
    training goes on without them), until it ends, is pruned, loses its lease or `stop` is
    set (then the epoch finishes and the trial is handed back as `lost`)."""
    trial_id = lease.trial_id
    log.info("trial %s (study %s): %s", trial_id, lease.study_id, lease.params)
    with tempfile.TemporaryDirectory(prefix=f"hpo-trial-{trial_id}-") as scratch:
        checkpoint_dir, output_dir = Path(scratch) / "checkpoint", Path(scratch) / "output"
        checkpoint_dir.mkdir()
        output_dir.mkdir()
        reports = ReportSender(reporter, lease, outage, every_seconds=options.report_seconds)
        # No checkpoint timer: the trainer writes its checkpoint just before each epoch's
        # report, so only then (after the reports are flushed) is it sure not to be ahead of
        # them; a timer's upload could catch the next epoch's checkpoint before its report.
        attempt = AttemptFiles(
            reporter, lease, checkpoint_dir, output_dir, outage,
            checkpoint_every_seconds=None, before_upload=reports.flush,
        )  # fmt: skip
        try:
            outcome = _train(lease, device, options, reporter, outage, stop, attempt, reports)
        finally:
            attempt.close()
        return with_rest(outcome, reports)


def with_rest(outcome: Outcome, reports: ReportSender) -> Outcome:
    """The outcome, carrying the reports not sent yet when it is a result; for a failure
    they are sent now (best effort), before the fail that ends the attempt."""
    if outcome.kind == "completed":
        return replace(outcome, reports=tuple(reports.take_rest()))
    if outcome.kind == "failed":
        reports.flush()
    return outcome


class AttemptFiles:
    """What one attempt has besides its reports: its log stream, its checkpoint directory
    (restored from the store when the trial was requeued, uploaded as it changes) and its
    output directory (kept by a completed trial). Built-in and command trials alike; both
    folders exist and are empty when it is made."""

    def __init__(
        self,
        client: Client,
        lease: Lease,
        checkpoint_dir: Path,
        output_dir: Path,
        outage: Outage,
        *,
        checkpoint_every_seconds: float | None = 30.0,
        before_upload: Callable[[], bool] | None = None,
    ) -> None:
        """`before_upload`: the attempt's `ReportSender.flush` (a checkpoint goes up only
        once the server has every report before it); `checkpoint_every_seconds` None: no
        timer, uploads only after reports."""
        self.client, self.lease, self.outage = client, lease, outage
        self.checkpoint_dir, self.output_dir = checkpoint_dir, output_dir
        token = lease.lease_token
        self.logs = LogStreamer(client, lease.trial_id, token)
        self.logs.start()
        self.checkpoints = CheckpointSync(
            client,
            lease.trial_id,
            token,
            self.checkpoint_dir,
            every_seconds=checkpoint_every_seconds,
            before_upload=before_upload,
        )
        if lease.attempt > 1:
            self._restore()
        self.checkpoints.start()

    def _restore(self) -> None:
        trial_id = self.lease.trial_id
        try:
            restored = restore_checkpoint(
                self.client, trial_id, self.lease.lease_token, self.checkpoint_dir
            )
        except HpoError as e:
            # No checkpoint is a slower trial, not a failed one: start from the beginning.
            log.warning("trial %s: checkpoint not restored (%s); starting over", trial_id, e)
            self.logs.line(f"[hpo] attempt {self.lease.attempt}: no checkpoint restored ({e})")
            return
        self.checkpoints.mark_restored()
        if restored:
            log.info("trial %s: restored %d checkpoint files", trial_id, restored)
            self.logs.line(
                f"[hpo] attempt {self.lease.attempt}: restored the checkpoint of an earlier attempt"
            )

    def after_report(self) -> None:
        """Upload what changed in the checkpoint directory, once the reports it follows were
        sent (skipped during an outage: the next flush or the timer tries again)."""
        if self.outage.seconds <= 0:
            self.checkpoints.sync()

    def keep_outputs(self) -> int:
        """Upload the output directory (before the result: the lease must be this one's)."""
        try:
            return upload_outputs(
                self.client, self.lease.trial_id, self.lease.lease_token, self.output_dir
            )
        except HpoError as e:
            log.warning("trial %s: outputs not kept: %s", self.lease.trial_id, e)
            return 0

    def close(self) -> None:
        self.checkpoints.close()
        self.logs.close()


def _train(
    lease: Lease,
    device: str,
    options: WorkerOptions,
    reporter: Client,
    outage: Outage,
    stop: threading.Event,
    attempt: AttemptFiles,
    reports: ReportSender,
) -> Outcome:
    trial_id, token = lease.trial_id, lease.lease_token
    heartbeat = Heartbeat(
        reporter, trial_id, token, heartbeat_every(lease, options.heartbeat_seconds)
    )
    heartbeat.start()

    def on_epoch(epoch: int, value: float, train_loss: float) -> bool:
        attempt.logs.line(f"epoch {epoch}: train_loss={train_loss:.6g} {metric}={value:.6g}")
        if heartbeat.lease_lost.is_set():
            reports.gone = True
            return True
        answer = reports.add(epoch, value)
        if answer == "sent":
            # The checkpoint saved before this epoch's report, now that the server has it.
            attempt.after_report()
        return answer in ("pruned", "gone") or stop.is_set()

    metric = str((lease.config.get("task") or {}).get("metric", "value"))
    try:
        # Loaded here: torch is imported by the first trial, not by `hpo worker --help`.
        from trainers.config import build_run_config, run_training
        from trainers.errors import ConfigError

        try:
            cfg = build_run_config(lease.config, device=device, threads=options.threads)
            cache = None if options.cache_dir is None else Path(options.cache_dir)
            roots = [Path(root) for root in options.data_roots]
            result = run_training(
                cfg,
                on_epoch,
                cache_dir=cache,
                data_roots=roots,
                keep_weights=True,
                checkpoint_dir=attempt.checkpoint_dir,
            )
        except ConfigError as e:
            # Our own messages: they say what failed, never what a user file holds.
            reason = str(e)
            log.warning("trial %s failed (config): %s", trial_id, reason)
            return Outcome.failed("config", reason)
        except Exception:
            message = traceback.format_exc(limit=5)
            log.error("trial %s failed (internal): %s", trial_id, one_line(message))
            log.debug("trial %s traceback:\n%s", trial_id, message)
            return Outcome.failed("internal", message)
    finally:
        heartbeat.done.set()
    if reports.gone or reports.pruned:
        pruned = reports.pruned
        log.info("trial %s %s", trial_id, "pruned" if pruned else "abandoned (lease lost)")
        return Outcome("pruned" if pruned else "abandoned")
    if stop.is_set():
        return Outcome.failed("lost", "worker stopped")
    if result.status in ("diverged", "oom"):
        log.warning("trial %s failed (%s): %s", trial_id, result.status, result.message)
        return Outcome.failed(result.status, result.message)
    metric = cfg.train.metric
    value = result.val_accuracy if metric == "val_accuracy" else result.val_loss
    if value is None:
        return Outcome.failed("internal", "no validation metric")
    metrics = {k: v for k, v in result.to_dict().items() if k not in ("config", "history")}
    metrics["curve"] = [r.val_accuracy for r in result.history]
    attempt.logs.line(f"{result.message}: {metric}={value:.6g} (best epoch {result.best_epoch})")
    if result.weights is not None:
        import torch

        torch.save(result.weights, attempt.output_dir / "model.pt")
    kept = attempt.keep_outputs()
    log.debug("trial %s: %d output files kept", trial_id, kept)
    log.info("trial %s completed: %s=%.4f", trial_id, metric, value)
    return Outcome("completed", value=float(value), metrics=metrics)
