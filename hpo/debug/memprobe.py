"""An opt-in memory probe for a running `hpo serve`: tracemalloc plus the process's RSS and
glibc's malloc figures, written to a file at intervals and on SIGUSR1.

Off by default (tracemalloc costs time and memory on every allocation). Turn it on with
`HPO_DEBUG_TRACEMALLOC=N` (N: frames kept per traceback, 1 is enough for line tops) and read
`HPO_DEBUG_TRACEMALLOC_FILE` (default `hpo-memprobe-<pid>.txt` in the working directory).

Each report has one summary line, so a run's growth can be read with `grep '^# t='`:

    # t=120.0s rss=212.4MiB traced=41.2MiB traced_server=40.9MiB ... threads=41

and the top allocation sites by growth since the baseline (the first report, taken after
`interval` seconds so that imports and warm-up are not counted as growth) and since the
previous report. Python-object growth shows in `traced_server`; growth in
`rss-traced-overhead` while `traced` stays flat is the allocator's (freed memory that malloc
arenas keep, fragmentation) or memory allocated outside Python's allocator hooks (C libraries
calling malloc directly, e.g. libpq's result buffers). The interval is
`HPO_DEBUG_TRACEMALLOC_INTERVAL` seconds (default 60). Under load a snapshot of the whole heap
can take tens of seconds and costs memory of its own, so compare RSS slopes with the probe off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

_TOP = 25


class _MallInfo2(ctypes.Structure):
    # glibc >= 2.33, struct mallinfo2: every field a size_t.
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


@functools.cache
def _mallinfo2() -> Callable[[], _MallInfo2] | None:
    # Looked up once: find_library runs ldconfig.
    path = ctypes.util.find_library("c")
    if path is None:
        return None
    try:
        function = ctypes.CDLL(path).mallinfo2
    except (OSError, AttributeError):
        return None
    function.restype = _MallInfo2
    return cast(Callable[[], _MallInfo2], function)


def malloc_figures() -> dict[str, int] | None:
    """glibc's totals over all arenas: bytes in use (`uordblks` + mmapped `hblkhd`), bytes free
    inside the arenas (`fordblks`, RSS malloc keeps), and arena bytes; None off glibc."""
    mallinfo2 = _mallinfo2()
    if mallinfo2 is None:
        return None
    info = mallinfo2()
    return {
        "used": int(info.uordblks) + int(info.hblkhd),
        "free": int(info.fordblks),
        "arena": int(info.arena),
    }


def rss_bytes() -> int:
    """Resident set size from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProbeConfig:
    frames: int
    path: Path
    interval_s: float

    @classmethod
    def from_env(cls, environ: dict[str, str] | os._Environ[str]) -> ProbeConfig | None:
        """The probe's settings, or None when `HPO_DEBUG_TRACEMALLOC` is unset, empty or 0.
        Read here rather than in `Settings`: this is a debugging aid, not configuration."""
        raw = environ.get("HPO_DEBUG_TRACEMALLOC", "").strip()
        if raw in ("", "0"):
            return None
        frames = max(1, int(raw))
        default = Path(f"hpo-memprobe-{os.getpid()}.txt")
        path = Path(environ.get("HPO_DEBUG_TRACEMALLOC_FILE") or default)
        interval = float(environ.get("HPO_DEBUG_TRACEMALLOC_INTERVAL", "60"))
        return cls(frames=frames, path=path, interval_s=interval)


class MemoryProbe:
    """Starts tracemalloc; `report()` appends one report to the file. `start()` adds a daemon
    thread that reports every `interval_s` and whenever SIGUSR1 arrives (the handler only sets
    an event: the snapshot is taken on the probe's thread, not the event loop's)."""

    def __init__(self, config: ProbeConfig) -> None:
        self.config = config
        self._started = time.monotonic()
        self._baseline: tracemalloc.Snapshot | None = None
        self._previous: tracemalloc.Snapshot | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if not tracemalloc.is_tracing():
            tracemalloc.start(config.frames)

    def start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, lambda _signum, _frame: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="hpo-memprobe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.report()  # the last word: what grew over the whole run

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.config.interval_s)
            self._wake.clear()
            if not self._stop.is_set():
                self.report()

    def report(self) -> str:
        """Take a snapshot, append the report to the file and return it."""
        with self._lock:
            # Figures first: the snapshot itself costs memory (a tuple per traced block).
            seconds = time.monotonic() - self._started
            rss, malloc = rss_bytes(), malloc_figures()
            traced, peak = tracemalloc.get_traced_memory()
            overhead = tracemalloc.get_tracemalloc_memory()
            snapshot = _filtered(tracemalloc.take_snapshot())
            # What the server's own code holds (what the snapshots kept by the probe hold, in
            # tracemalloc.py, is left out).
            server = sum(stat.size for stat in snapshot.statistics("filename"))
            lines = [_summary(seconds, rss, traced, server, peak, overhead, malloc)]
            if self._baseline is None:
                self._baseline = snapshot
                lines.append("(baseline: later reports show growth since this one)")
            else:
                lines += _top("since baseline", snapshot, self._baseline)
                if self.config.frames > 1:
                    lines += _tracebacks(snapshot, self._baseline)
                if self._previous is not None and self._previous is not self._baseline:
                    lines += _top("since previous report", snapshot, self._previous)
            self._previous = snapshot
            text = "\n".join(lines) + "\n\n"
            with self.config.path.open("a") as out:
                out.write(text)
            return text


def start_from_env(environ: dict[str, str] | os._Environ[str]) -> MemoryProbe | None:
    config = ProbeConfig.from_env(environ)
    if config is None:
        return None
    probe = MemoryProbe(config)
    probe.start()
    return probe


def _filtered(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    # The probe's own snapshots are not the server's memory.
    return snapshot.filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
            tracemalloc.Filter(False, "<unknown>"),
        )
    )


def _summary(
    seconds: float,
    rss: int,
    traced: int,
    server: int,
    peak: int,
    overhead: int,
    malloc: dict[str, int] | None,
) -> str:
    mib = 2**20
    parts = [
        f"# t={seconds:.1f}s",
        f"rss={rss / mib:.1f}MiB",
        f"traced={traced / mib:.1f}MiB",
        f"traced_server={server / mib:.1f}MiB",
        f"traced_peak={peak / mib:.1f}MiB",
        f"tracemalloc_overhead={overhead / mib:.1f}MiB",
        # Neither Python objects nor tracemalloc's own tables: the allocator's share.
        f"rss-traced-overhead={(rss - traced - overhead) / mib:.1f}MiB",
    ]
    if malloc is not None:
        parts += [
            f"malloc_used={malloc['used'] / mib:.1f}MiB",
            f"malloc_free={malloc['free'] / mib:.1f}MiB",
            f"malloc_arena={malloc['arena'] / mib:.1f}MiB",
        ]
    parts.append(f"threads={threading.active_count()}")
    return " ".join(parts)


def _top(title: str, now: tracemalloc.Snapshot, then: tracemalloc.Snapshot) -> list[str]:
    stats = now.compare_to(then, "lineno")
    total = sum(s.size_diff for s in stats)
    lines = [f"## top {_TOP} by growth {title} (net {total / 1024:+.1f} KiB)"]
    for stat in stats[:_TOP]:
        frame = stat.traceback[0]
        lines.append(
            f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks "
            f"(now {stat.size / 1024:.1f} KiB)  {frame.filename}:{frame.lineno}"
        )
    return lines


def _tracebacks(now: tracemalloc.Snapshot, then: tracemalloc.Snapshot, top: int = 5) -> list[str]:
    # Where the biggest growers were called from (HPO_DEBUG_TRACEMALLOC above 1).
    lines = [f"## top {top} growers since baseline, with their callers"]
    for stat in now.compare_to(then, "traceback")[:top]:
        lines.append(f"{stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
        lines += [f"        {frame.filename}:{frame.lineno}" for frame in stat.traceback]
    return lines
