"""`hpo serve` under cProfile, every thread (bench/orchestration.py --profile-server).

cProfile sees only the thread that enabled it, and the API's sync routes run in the thread
pool: so each thread started here gets its own profiler (wrapped around the thread's body),
and at exit (SIGINT: uvicorn's graceful stop) all of them are merged into one stats file.
Timed by each thread's CPU clock (`time.thread_time`): waits on locks and sockets cost none.
What it shows is shares of the server's CPU by function; profiling slows everything down.

    python bench/_profiled_serve.py STATS_FILE --port 8123
"""

from __future__ import annotations

import atexit
import cProfile
import pstats
import sys
import threading
import time
from typing import Any

_profiles: list[cProfile.Profile] = []
_original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]


def _profiled_bootstrap(self: threading.Thread) -> Any:
    profile = cProfile.Profile(time.thread_time)
    _profiles.append(profile)
    profile.enable()
    try:
        return _original(self)
    finally:
        profile.disable()


def _dump(path: str, main: cProfile.Profile) -> None:
    main.disable()
    stats = pstats.Stats(main)
    for profile in _profiles:
        try:
            stats.add(profile)
        except TypeError:  # a profiler with nothing recorded
            continue
    stats.dump_stats(path)


def main() -> None:
    path, args = sys.argv[1], sys.argv[2:]
    threading.Thread._bootstrap_inner = _profiled_bootstrap  # type: ignore[attr-defined]
    profile = cProfile.Profile(time.thread_time)
    atexit.register(_dump, path, profile)
    sys.argv = ["hpo", "serve", *args]
    from hpo.cli import main as hpo_main

    profile.enable()
    hpo_main()


if __name__ == "__main__":
    main()
