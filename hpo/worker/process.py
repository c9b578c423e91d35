"""A user's program as a child process of the worker: started without a shell in a process
group of its own, its stdout and stderr handed line by line to a `LineSink`, and stopped as a
group (SIGTERM, a grace period, then SIGKILL), so a child the script started goes with it.

The sink is the seam for whatever wants the lines: the command trial reads its reports from
stdout and keeps the tail of stderr (hpo.worker.command); log streaming can hook in beside it.
Callbacks run on the reader threads, one per stream: keep them quick.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

log = logging.getLogger("hpo.worker")

# A line longer than this is handed over in pieces (a script printing megabytes without a
# newline must not grow the worker's memory without bound).
MAX_LINE_BYTES = 1 << 20


# The process groups of the scripts running now, for a worker that must exit at once (a second
# signal): its scripts live in sessions of their own and would otherwise outlive it.
_running: set[int] = set()
_running_lock = threading.Lock()


def kill_running_scripts() -> None:
    """SIGKILL the process group of every script still running. Safe in a signal handler: no
    lock taken (the main thread may hold it when the signal lands), the set copied as is."""
    for pid in tuple(_running):
        _signal_group(pid, signal.SIGKILL)


# A worker that is SIGKILLed runs no handler: on Linux the kernel sends each script SIGKILL
# when the worker dies (prctl PR_SET_PDEATHSIG), so no script trains on for a trial the server
# has requeued. The signal fires when the *thread* that started the script exits: scripts are
# started from the thread that runs the worker's loop (the main thread of each slot process),
# which lives as long as the worker. Only the script itself is covered: children it started
# itself are its own to stop (a stop or a graceful exit still takes its whole group).
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


# Looked up here, once: the child between fork and exec only calls it (no import, no lookup,
# nothing that takes a lock another thread of the worker may have held at the fork).
_prctl = _load_prctl()


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    if _prctl is None:
        return None
    prctl = _prctl

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the worker died before the signal was armed
            os._exit(1)

    return in_child


class LineSink(Protocol):
    """Receives each line a script prints, without its line ending."""

    def on_stdout_line(self, line: str) -> None: ...

    def on_stderr_line(self, line: str) -> None: ...


class SinkFanout:
    """Several sinks as one: each line goes to every sink, in order."""

    def __init__(self, *sinks: LineSink) -> None:
        self.sinks = list(sinks)

    def on_stdout_line(self, line: str) -> None:
        for sink in self.sinks:
            sink.on_stdout_line(line)

    def on_stderr_line(self, line: str) -> None:
        for sink in self.sinks:
            sink.on_stderr_line(line)


class ScriptProcess:
    """One run of `argv` in `cwd` with exactly `env`. `start()` raises OSError when the
    program cannot be started (not found, not executable)."""

    def __init__(
        self, argv: Sequence[str], cwd: Path, env: Mapping[str, str], sink: LineSink
    ) -> None:
        self.argv, self.cwd, self.env, self.sink = list(argv), cwd, dict(env), sink
        self._process: subprocess.Popen[bytes] | None = None
        self._readers: list[threading.Thread] = []

    def start(self) -> None:
        self._process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # Its own session, so its own process group: a stop reaches every process it
            # started, and a Ctrl-C at the worker's terminal is the worker's to handle.
            start_new_session=True,
            close_fds=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
        with _running_lock:
            _running.add(self._process.pid)
        assert self._process.stdout is not None and self._process.stderr is not None
        for stream, emit in (
            (self._process.stdout, self.sink.on_stdout_line),
            (self._process.stderr, self.sink.on_stderr_line),
        ):
            reader = threading.Thread(target=_read_lines, args=(stream, emit), daemon=True)
            reader.start()
            self._readers.append(reader)

    @property
    def pid(self) -> int:
        assert self._process is not None, "start() first"
        return self._process.pid

    def poll(self) -> int | None:
        """The exit status once the script has exited (negative: killed by that signal)."""
        assert self._process is not None, "start() first"
        return self._process.poll()

    def wait(self, timeout: float) -> int | None:
        assert self._process is not None, "start() first"
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_seconds: float) -> int:
        """SIGTERM to the process group; SIGKILL to it once the script has exited or after
        `grace_seconds`, whichever comes first (what it left running goes too). Returns
        the script's exit status."""
        _signal_group(self.pid, signal.SIGTERM)
        code = self.wait(grace_seconds)
        _signal_group(self.pid, signal.SIGKILL)
        if code is None:
            code = self.wait(60)
        return -signal.SIGKILL if code is None else code

    def finish(self, timeout: float = 5.0) -> None:
        """After the script exited: kill what it left in its group (a background child still
        holding the pipes would keep its lines coming forever), and wait for the readers to
        hand over the last lines."""
        _signal_group(self.pid, signal.SIGKILL)
        with _running_lock:
            _running.discard(self.pid)
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The group may be gone already (every process in it exited): nothing to signal.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _read_lines(stream: IO[bytes], emit: Callable[[str], None]) -> None:
    # Reading goes on whatever a sink does: a reader that stopped would leave the script
    # blocked on a full pipe until its timeout.
    failed = False
    with stream:
        while True:
            raw = stream.readline(MAX_LINE_BYTES)
            if not raw:
                return
            try:
                emit(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            except Exception:
                if not failed:
                    log.exception("a line sink failed; the script's lines are still read")
                failed = True
