"""A command-trial script for the end-to-end tests: deterministic, and told by `--mode` how
to behave (complete, fail in one of the ways a worker classifies, or get pruned)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time


def score(x: float, y: int) -> float:
    """What mode `score` reports as its result: the tests compute the same."""
    return round((x - 0.3) ** 2 + y / 10, 6)


def arg(name: str) -> str:
    return sys.argv[sys.argv.index(name) + 1]


def main() -> int:
    mode = arg("--mode")
    if os.environ.get("ARGV_LOG"):
        with open(os.environ["ARGV_LOG"], "w") as f:
            json.dump(sys.argv[1:], f)
    metric = os.environ.get("HPO_METRIC", "score")
    if mode == "score":
        x, y = float(arg("--x")), int(arg("--y"))
        for step in range(3):
            print(json.dumps({"step": step, metric: score(x, y) + (2 - step), "extra": step * 2}))
        print(json.dumps({metric: score(x, y), "final": True, "extra": 99}))
        print(json.dumps({metric: -1.0}))  # after the final line: not the result
        return 0
    if mode == "ok":
        print("plain output, not a report")
        print(json.dumps({"step": 0, metric: 1.5}))
        return 0
    if mode == "exit1":
        for i in range(25):
            print(f"stderr line {i}", file=sys.stderr)
        return 1
    if mode == "nometric":
        print(json.dumps({"step": 0, "something_else": 1.0}))
        return 0
    if mode == "sleep":
        time.sleep(120)
        return 0
    if mode == "oom":
        print("RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
        return 1
    if mode == "good":
        for step in range(3):
            print(json.dumps({"step": step, metric: 1.0}))
        return 0
    if mode == "bad":
        # A child in the same process group, both ignoring SIGTERM, and a script that goes on
        # when its stdout is gone: a stop must still end both (SIGKILL after the grace).
        ignoring = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        child = subprocess.Popen([sys.executable, "-c", ignoring + "time.sleep(300)"])
        with open(os.environ["PIDS_LOG"], "w") as f:
            json.dump({"script": os.getpid(), "child": child.pid}, f)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        step = 0
        while True:
            with contextlib.suppress(OSError):  # the worker is gone: go on regardless
                print(json.dumps({"step": step, metric: 0.0}), flush=True)
            step += 1
            time.sleep(0.2)
    if mode == "sdk_bad":
        return sdk_bad()
    raise SystemExit(f"unknown mode {mode}")


def sdk_bad() -> int:
    """The SDK's side of pruning: trial.report answers True, trial.should_prune agrees, and the
    script stops by itself (it ignores SIGTERM, so it has the grace period to)."""
    from hpo import trial

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    assert trial.params["mode"] == "sdk_bad", trial.params
    assert (
        trial.checkpoint_dir.is_dir()
        and str(trial.checkpoint_dir) == os.environ["HPO_CHECKPOINT_DIR"]
    )
    for step in range(1000):
        if trial.report(step, 0.0, seen=float(step)):
            with open(os.environ["PIDS_LOG"] + ".sdk", "w") as f:
                json.dump({"stopped_at": step, "should_prune": trial.should_prune()}, f)
            return 0
        time.sleep(0.05)
    return 1


if __name__ == "__main__":
    sys.exit(main())
