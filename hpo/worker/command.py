"""One leased command trial, run: the user's program (the study's `task.command`, placeholders
filled in) as a process group of its own, its stdout read for reports, each report sent to the
API (at once when the study's pruner may stop it, else batched: hpo.worker.reports), and how
it ended as an `Outcome`.

How it ends:
- exit 0 after at least one report: completed, with the final report's value (a line with
  `"final": true`, else the last one) and every other number the lines carried as metrics;
- exit 0 with no report: failed as `config` (the script printed no metric named so);
- the pruner says stop: SIGTERM to the group, `kill_grace_seconds`, SIGKILL; `pruned` (the
  API recorded it with the report that stopped it);
- past `timeout_s`: stopped the same way, failed as `timeout`;
- a non-zero exit: failed as `oom` when stderr said "CUDA out of memory", else as `user`, with
  the last 20 lines of stderr;
- a workdir outside every `--allow-commands` root, or a program that cannot start: `config`.
Whatever the script does, the worker goes on: this returns an Outcome, never raises for it.

Each attempt gets fresh HPO_CHECKPOINT_DIR and HPO_OUTPUT_DIR folders under the worker's work
dir. `AttemptHooks` is where log streaming and checkpoint sync hook in: `start` (the folders are
fresh, the script not started: restore a checkpoint, return the `LineSink`s that want the
script's lines), `reported` after each report, `ended` with the outcome.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pydantic

from hpo.client import Client
from hpo.command_spec import CommandTaskSpec, command_argv, command_env
from hpo.errors import one_line
from hpo.outage import Outage
from hpo.trial_protocol import (
    ENV_ATTEMPT,
    ENV_CHECKPOINT_DIR,
    ENV_CONTROL_FILE,
    ENV_METRIC,
    ENV_OUTPUT_DIR,
    ENV_PARAMS,
    ENV_STUDY_ID,
    ENV_TRIAL_ID,
    Control,
    Report,
    parse_report,
    write_control,
)
from hpo.wire import Lease
from hpo.worker.options import WorkerOptions
from hpo.worker.process import LineSink, ScriptProcess, SinkFanout
from hpo.worker.reports import ReportSender
from hpo.worker.trial import Heartbeat, Outcome, heartbeat_every, with_rest

log = logging.getLogger("hpo.worker")

STDERR_TAIL_LINES = 20
OOM_MARKER = "CUDA out of memory"
# The worker's own secrets never reach a user's script.
_WITHHELD_ENV = ("HPO_TOKEN", "HPO_WORKER_TOKEN", "HPO_API_TOKEN", "HPO_READ_TOKEN")
_TICK_SECONDS = 0.05
# How a report can end a trial: the pruner stopped it, or the lease is gone.
Ending = Literal["pruned", "abandoned"]


@dataclass(frozen=True)
class AttemptDirs:
    root: Path
    checkpoint: Path
    output: Path
    control: Path


def attempt_dirs(options: WorkerOptions, lease: Lease) -> AttemptDirs:
    """Fresh folders for this attempt (what an earlier run on this machine left is removed)."""
    base = Path(options.work_dir) if options.work_dir else default_work_dir()
    root = base / f"trial-{lease.trial_id}" / f"attempt-{lease.attempt}"
    shutil.rmtree(root, ignore_errors=True)
    checkpoint, output = root / "checkpoint", root / "output"
    checkpoint.mkdir(parents=True)
    output.mkdir()
    return AttemptDirs(root, checkpoint, output, root / "control.json")


def default_work_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"hpo-worker-{os.getuid()}"


class AttemptHooks(Protocol):
    """What else happens around one attempt of a command trial (log streaming, checkpoints)."""

    def start(self, lease: Lease, dirs: AttemptDirs, reports: ReportSender) -> Sequence[LineSink]:
        """Before the script starts, its folders fresh; returns the sinks for its lines.
        `reports`: the attempt's, to flush before a checkpoint goes up."""
        ...

    def reported(self, lease: Lease, dirs: AttemptDirs) -> None:
        """After reports were sent (on the runner's thread): the server has them all."""
        ...

    def ended(self, lease: Lease, dirs: AttemptDirs, outcome: Outcome) -> None:
        """Once the script and its group are gone, before the outcome is sent."""
        ...


class NoHooks:
    def start(self, lease: Lease, dirs: AttemptDirs, reports: ReportSender) -> Sequence[LineSink]:
        return ()

    def reported(self, lease: Lease, dirs: AttemptDirs) -> None:
        pass

    def ended(self, lease: Lease, dirs: AttemptDirs, outcome: Outcome) -> None:
        pass


class WorkdirRefused(Exception):
    """The task's workdir is not inside an allowed root (message says where it resolved)."""


def resolve_workdir(workdir: str, roots: Sequence[str]) -> Path:
    """The folder to run in: an absolute `workdir` as it is, a relative one under the first
    root that has it; symlinks followed, and the result must lie inside one of `roots`."""
    if not roots:
        raise WorkdirRefused("this worker runs no command trials: start it with --allow-commands")
    given = Path(workdir).expanduser()
    candidates = [given] if given.is_absolute() else [Path(root) / given for root in roots]
    for candidate in candidates:
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if not real.is_dir():
            continue
        if any(real.is_relative_to(Path(root).resolve()) for root in roots):
            return real
        raise WorkdirRefused(
            f"workdir {workdir!r} resolves to {real}, outside the folders this worker allows "
            f"(--allow-commands {' '.join(roots)}): move it inside one, or start the worker "
            "with --allow-commands covering it"
        )
    raise WorkdirRefused(
        f"workdir {workdir!r} is no folder on this worker (looked under {', '.join(roots)})"
    )


def visible_devices(device: str, inherited: str | None) -> str:
    """CUDA_VISIBLE_DEVICES for a script the slot on `device` runs: its one GPU (an index into
    what the slot itself sees, when its parent pinned it), none on the CPU."""
    if device == "cpu":
        return ""
    if device.startswith("cuda:"):
        index = int(device.split(":", 1)[1])
        seen = [d for d in (inherited or "").split(",") if d.strip()]
        return seen[index] if index < len(seen) else str(index)
    return inherited if inherited is not None else ""


class _Reader:
    """The command trial's own sink: report lines into a queue (sent by the trial's loop, so a
    slow API never blocks the script's pipe), and the tail of stderr."""

    def __init__(self, metric: str) -> None:
        self.metric = metric
        self.reports: queue.Queue[Report] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.oom = False
        self._lock = threading.Lock()

    def on_stdout_line(self, line: str) -> None:
        report = parse_report(line, self.metric)
        if report is not None:
            self.reports.put(report)

    def on_stderr_line(self, line: str) -> None:
        with self._lock:
            self.stderr_tail.append(line)
            if OOM_MARKER in line:
                self.oom = True

    def tail(self) -> str:
        with self._lock:
            return "\n".join(self.stderr_tail)


class _Results:
    """What the reports said so far: the value that will be the result, the metrics, the curve."""

    def __init__(self) -> None:
        self.count = 0
        self.last: Report | None = None
        self.final: Report | None = None
        self.metrics: dict[str, float] = {}
        self.curve: list[float] = []
        self.diverged: Report | None = None

    def add(self, report: Report) -> int:
        """Record a report; returns the step to send it at."""
        step = report.step if report.step is not None else self.count
        self.count += 1
        self.curve.append(report.value)
        self.metrics.update(report.metrics)
        if not math.isfinite(report.value) and self.diverged is None:
            self.diverged = report
        if self.final is None:
            self.last = report
            if report.final:
                self.final = report
        return step

    @property
    def result(self) -> Report | None:
        return self.final or self.last


def run_command(
    lease: Lease,
    device: str,
    options: WorkerOptions,
    *,
    reporter: Client,
    outage: Outage,
    stop: threading.Event,
    hooks: AttemptHooks | None = None,
) -> Outcome:
    """Run the leased command trial to its end (see the module's docstring). Never raises:
    a failure of the runner itself is an `internal` failure of the trial."""
    try:
        outcome = _run(lease, device, options, reporter, outage, stop, hooks or NoHooks())
    except Exception as e:
        log.exception("trial %s: the command runner failed", lease.trial_id)
        return Outcome.failed("internal", f"the worker's command runner failed: {one_line(str(e))}")
    return outcome


def _run(
    lease: Lease,
    device: str,
    options: WorkerOptions,
    reporter: Client,
    outage: Outage,
    stop: threading.Event,
    hooks: AttemptHooks,
) -> Outcome:
    try:
        task = CommandTaskSpec.model_validate(lease.config["task"])
    except (pydantic.ValidationError, KeyError) as e:
        return Outcome.failed("config", f"not a command task this worker can run: {e}")
    try:
        workdir = resolve_workdir(task.workdir, options.allow_commands)
    except WorkdirRefused as e:
        log.warning("trial %s refused: %s", lease.trial_id, e)
        return Outcome.failed("config", str(e))
    values: dict[str, Any] = dict(lease.config.get("params") or {})
    try:
        argv = command_argv(task, values)
        env = _script_env(task, values, lease, device, dirs := attempt_dirs(options, lease))
    except KeyError as e:
        return Outcome.failed("config", f"placeholder {{{e.args[0]}}} has no value in the trial")
    write_control(dirs.control, Control())
    reader = _Reader(task.metric)
    reports = ReportSender(reporter, lease, outage, every_seconds=options.report_seconds)
    sinks = hooks.start(lease, dirs, reports)
    process = ScriptProcess(argv, workdir, env, SinkFanout(reader, *sinks))
    try:
        process.start()
    except OSError as e:
        outcome = Outcome.failed("config", f"cannot start {argv[0]!r} in {workdir}: {e}")
        hooks.ended(lease, dirs, outcome)
        return outcome
    log.info("trial %s (study %s): pid %s: %s", lease.trial_id, lease.study_id, process.pid, argv)
    heartbeat = Heartbeat(
        reporter,
        lease.trial_id,
        lease.lease_token,
        heartbeat_every(lease, options.heartbeat_seconds),
    )
    heartbeat.start()
    try:
        outcome = _supervise(
            lease, task, process, reader, dirs, options, reports, stop, heartbeat, hooks
        )
    except Exception as e:  # a bug on our side: the script goes, the worker stays
        process.stop(options.kill_grace_seconds)
        log.exception("trial %s: the command runner failed", lease.trial_id)
        message = f"the worker's command runner failed: {one_line(str(e))}"
        outcome = Outcome.failed("internal", message)
    finally:
        heartbeat.done.set()
        process.finish()
    outcome = with_rest(outcome, reports)
    hooks.ended(lease, dirs, outcome)
    return outcome


def _script_env(
    task: CommandTaskSpec,
    values: Mapping[str, Any],
    lease: Lease,
    device: str,
    dirs: AttemptDirs,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _WITHHELD_ENV}
    env.update(command_env(task, values))
    env.update(
        {
            ENV_PARAMS: json.dumps(dict(values)),
            ENV_TRIAL_ID: str(lease.trial_id),
            ENV_STUDY_ID: str(lease.study_id),
            ENV_ATTEMPT: str(lease.attempt),
            ENV_CHECKPOINT_DIR: str(dirs.checkpoint),
            ENV_OUTPUT_DIR: str(dirs.output),
            ENV_METRIC: task.metric,
            ENV_CONTROL_FILE: str(dirs.control),
            "CUDA_VISIBLE_DEVICES": visible_devices(device, os.environ.get("CUDA_VISIBLE_DEVICES")),
            # Reports as they are printed, not when a block buffer fills.
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _supervise(
    lease: Lease,
    task: CommandTaskSpec,
    process: ScriptProcess,
    reader: _Reader,
    dirs: AttemptDirs,
    options: WorkerOptions,
    reports: ReportSender,
    stop: threading.Event,
    heartbeat: Heartbeat,
    hooks: AttemptHooks,
) -> Outcome:
    trial_id = lease.trial_id
    results = _Results()
    started = time.monotonic()

    def send(report: Report) -> Ending | None:
        """Send one report (or keep it for the next batch: hpo.worker.reports); 'pruned' /
        'abandoned' when that ends the trial."""
        step = results.add(report)
        answer: Ending | None = None
        if math.isfinite(report.value):  # a diverged value is the result's business
            sent = reports.add(step, report.value)
            answer = "pruned" if sent == "pruned" else "abandoned" if sent == "gone" else None
            if sent == "sent":
                hooks.reported(lease, dirs)
        write_control(dirs.control, Control(answered=results.count, stop=answer is not None))
        return answer

    def drain() -> Ending | None:
        while True:
            try:
                report = reader.reports.get_nowait()
            except queue.Empty:
                return None
            ended = send(report)
            if ended:
                return ended

    code: int | None = None
    while code is None:
        try:
            report = reader.reports.get(timeout=_TICK_SECONDS)
        except queue.Empty:
            report = None
        ended: Ending | None = send(report) if report is not None else None
        if ended is None and heartbeat.lease_lost.is_set():
            ended = "abandoned"
        if ended is not None:
            process.stop(options.kill_grace_seconds)
            log.info("trial %s %s: process group stopped", trial_id, ended)
            return Outcome(ended)
        if stop.is_set():
            process.stop(options.kill_grace_seconds)
            return Outcome.failed("lost", "worker stopped")
        if time.monotonic() - started > task.timeout_s:
            process.stop(options.kill_grace_seconds)
            return Outcome.failed("timeout", _timeout_message(task, results))
        code = process.poll()
    # Exited: the readers hand over the last lines, then the reports they held are sent.
    process.finish()
    ended = drain()
    if ended is not None:
        return Outcome(ended)
    return _exit_outcome(task, code, results, reader, trial_id)


def _exit_outcome(
    task: CommandTaskSpec, code: int, results: _Results, reader: _Reader, trial_id: int
) -> Outcome:
    if code != 0:
        failure = "oom" if reader.oom else "user"
        how = (
            f"killed by {signal.Signals(-code).name}"
            if code < 0 and -code in signal.valid_signals()
            else f"exited with code {code}"
        )
        tail = reader.tail()
        message = f"the script {how}" + (
            f"; the last lines of its stderr:\n{tail}" if tail else " (nothing on stderr)"
        )
        log.warning("trial %s failed (%s): %s", trial_id, failure, one_line(message))
        return Outcome.failed(failure, message)
    result = results.result
    if result is None:
        return Outcome.failed(
            "config",
            f"the script printed no metric {task.metric!r}: print a JSON line on stdout such as "
            f'{{"step": 1, "{task.metric}": 0.9}} (or use trial.report from hpo.trial)',
        )
    if results.diverged is not None or not math.isfinite(result.value):
        return Outcome.failed("diverged", f"{task.metric} became {result.value} (not finite)")
    metrics: dict[str, Any] = {**results.metrics, **result.metrics}
    metrics["curve"] = [v if math.isfinite(v) else None for v in results.curve]
    metrics["reports"] = results.count
    log.info("trial %s completed: %s=%.6g", trial_id, task.metric, result.value)
    return Outcome("completed", value=result.value, metrics=metrics)


def _timeout_message(task: CommandTaskSpec, results: _Results) -> str:
    last = results.last
    after = f"; its last report: {task.metric}={last.value:.6g}" if last is not None else ""
    return (
        f"the script ran past the task's timeout_s of {task.timeout_s:g} s and was stopped{after}"
    )
