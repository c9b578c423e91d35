"""Logs, checkpoints and outputs for command trials: the `AttemptHooks` a worker uses, built
on the same `AttemptFiles` as the built-in trials (hpo.worker.trial), so both stream, sync and
keep the same way.

- start: the attempt's HPO_CHECKPOINT_DIR is restored from the trial's latest uploaded
  checkpoint (a requeued attempt, on whichever worker claimed it), the log stream and the
  30-second checkpoint timer start, and a sink hands every stdout and stderr line to the log;
- reported: after reports were sent, what changed in the checkpoint directory goes up (every
  upload, the timer's too, flushes the attempt's kept reports first: a checkpoint is never
  ahead of the reports the server has);
- ended: a last checkpoint sync for an attempt that did not complete (a worker that stops
  gracefully leaves the newest state), what a completed script left in HPO_OUTPUT_DIR kept as
  the trial's artifacts (before the result is sent: the lease is still this attempt's), then
  the stream is flushed and closed.

One hooks object serves every slot of a worker: the attempts are told apart by trial id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from hpo.client import Client
from hpo.outage import Outage
from hpo.wire import Lease
from hpo.worker.command import AttemptDirs
from hpo.worker.logs import LogStreamer
from hpo.worker.process import LineSink
from hpo.worker.reports import ReportSender
from hpo.worker.trial import AttemptFiles, Outcome

log = logging.getLogger("hpo.worker")


class _LogSink:
    """A script's lines, both streams, into the attempt's log (stdout and stderr interleaved
    as they arrive, as a terminal would show them)."""

    def __init__(self, logs: LogStreamer) -> None:
        self.logs = logs

    def on_stdout_line(self, line: str) -> None:
        self.logs.line(line)

    def on_stderr_line(self, line: str) -> None:
        self.logs.line(line)


class CommandAttemptFiles:
    """`AttemptHooks` that stream a command trial's log and sync its checkpoints and outputs."""

    def __init__(
        self, client: Client, outage: Outage, *, checkpoint_every_seconds: float = 30.0
    ) -> None:
        self.client, self.outage = client, outage
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self._attempts: dict[int, AttemptFiles] = {}
        self._lock = threading.Lock()

    def start(self, lease: Lease, dirs: AttemptDirs, reports: ReportSender) -> Sequence[LineSink]:
        files = AttemptFiles(
            self.client,
            lease,
            dirs.checkpoint,
            dirs.output,
            self.outage,
            checkpoint_every_seconds=self.checkpoint_every_seconds,
            before_upload=reports.flush,
        )
        with self._lock:
            self._attempts[lease.trial_id] = files
        return (_LogSink(files.logs),)

    def reported(self, lease: Lease, dirs: AttemptDirs) -> None:
        files = self._attempts.get(lease.trial_id)
        if files is not None:
            files.after_report()

    def ended(self, lease: Lease, dirs: AttemptDirs, outcome: Outcome) -> None:
        with self._lock:
            files = self._attempts.pop(lease.trial_id, None)
        if files is None:
            return
        try:
            # A completed trial needs no checkpoint (and its last reports go with the result,
            # not in a flush before an upload); an abandoned attempt's lease is not ours.
            if outcome.kind not in ("abandoned", "completed"):
                files.after_report()
            if outcome.kind == "completed":
                kept = files.keep_outputs()
                log.debug("trial %s: %d output files kept", lease.trial_id, kept)
        finally:
            files.close()
