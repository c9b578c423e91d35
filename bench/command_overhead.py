"""Issue 14, command trials: what a worker adds to each trial over running the same script by
hand (spawn in its own process group, reading stdout for reports, a report request per line,
the script's lines streamed to the server's log, its checkpoint uploaded after each report,
the result and the next claim), for a trivial script and for a longer one.

One `hpo serve` (SQLite) and one `hpo worker --allow-commands` (long-poll, no warm-up), in
this process's session; each round runs the script N times by hand (subprocess, same
interpreter, same environment) and then a study of N trials of it through the worker,
max_parallel 1. Per trial through the worker: finished_at - started_at as the API recorded
them (from the claim to the result's arrival: spawn, reports, exit, the complete), and the gap
to the next trial's start (the next claim rides on the complete: complete-and-claim) is
printed apart. The machine is shared (2 cores, other jobs), so medians and minima over all
rounds are compared: overhead = worker - by hand, for each.

    .venv/bin/python bench/command_overhead.py [--rounds 3] [--trivial 20] [--long 3]

The longer script sleeps `--long-seconds` (default 6) in 12 steps, reporting after each; the
share of a 30 s trial is extrapolated from it: (fixed overhead + 12 reports' cost) / 30 s,
i.e. the measured overhead over 30 s, since a 30 s trial reporting as often pays no more.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from hpo.client import Client
from hpo.serving import free_port, start_serve, stop_serve, wait_healthy

# Each step: a small checkpoint (4 KiB, written whole then renamed), a line on stderr and a
# report on stdout, so the worker's log streaming and checkpoint upload are in the figures.
SCRIPT = """\
import json, os, sys, time
steps, seconds = int(sys.argv[1]), float(sys.argv[2])
checkpoint = os.environ["HPO_CHECKPOINT_DIR"]
for step in range(steps):
    time.sleep(seconds / steps)
    hidden = os.path.join(checkpoint, ".state.tmp")
    with open(hidden, "wb") as f:
        f.write(step.to_bytes(4, "little") * 1024)
    os.replace(hidden, os.path.join(checkpoint, "state.bin"))
    print(f"step {step} done", file=sys.stderr, flush=True)
    print(json.dumps({"step": step, "score": step + 0.5}), flush=True)
"""


def by_hand(script: Path, steps: int, seconds: float, n: int) -> list[float]:
    times = []
    for _ in range(n):
        with tempfile.TemporaryDirectory() as checkpoint:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, str(script), str(steps), str(seconds)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, "HPO_CHECKPOINT_DIR": checkpoint},
            )
            times.append(time.perf_counter() - start)
    return times


def through_worker(
    client: Client, script: Path, steps: int, seconds: float, n: int, name: str
) -> tuple[list[float], list[float]]:
    """Each trial's seconds through the worker (claim to result), and the gaps between one
    trial's result and the next one's claim."""
    spec: dict[str, Any] = {
        "name": name,
        "task": {
            "kind": "command",
            "command": [sys.executable, script.name, str(steps), "{seconds}"],
            "workdir": str(script.parent),
            "metric": "score",
            "direction": "maximize",
            "timeout_s": 600,
        },
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "fixed": {"seconds": seconds},
        "sampler": "random",
        "budget": {"n_trials": n, "max_parallel": 1},
    }
    spec["task"]["params_in_env"] = True
    study = client.create_study(spec)
    while client.get_study(study.id).state != "completed":
        time.sleep(0.2)
    rows = client.trials(study.id, limit=n).items
    assert all(r.state == "completed" for r in rows), rows
    rows = sorted(rows, key=lambda r: _at(r.started_at))
    durations = [(_at(r.finished_at) - _at(r.started_at)).total_seconds() for r in rows]
    gaps = [
        (_at(b.started_at) - _at(a.finished_at)).total_seconds()
        for a, b in itertools.pairwise(rows)
    ]
    return durations, gaps


def _at(value: datetime | None) -> datetime:
    assert value is not None
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--trivial", type=int, default=20, help="trials per round, trivial")
    parser.add_argument("--long", type=int, default=3, help="trials per round, long script")
    parser.add_argument("--long-seconds", type=float, default=6.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scripts = root / "scripts"
        scripts.mkdir()
        script = scripts / "bench_script.py"
        script.write_text(SCRIPT)
        port = free_port()
        env = {**os.environ, "HPO_DATA_DIR": str(root / "data"), "HPO_LOG_LEVEL": "warning"}
        server = start_serve(port, env=env, log=root / "serve.log")
        url = f"http://127.0.0.1:{port}"
        worker = None
        try:
            wait_healthy(url, server, timeout=30)
            with (root / "worker.log").open("wb") as log:
                worker = subprocess.Popen(
                    [sys.executable, "-m", "hpo.cli", "worker", "--api", url, "--device", "cpu",
                     "--no-warm-up", "--allow-commands", str(scripts),
                     "--work-dir", str(root / "work")],
                    env=env, stdout=log, stderr=log,
                )  # fmt: skip
            client = Client(url)
            cases = {
                "trivial (1 report)": (1, 0.0, args.trivial),
                f"{args.long_seconds:g} s (12 reports)": (12, args.long_seconds, args.long),
            }
            hands: dict[str, list[float]] = {case: [] for case in cases}
            worked: dict[str, list[float]] = {case: [] for case in cases}
            gaps: list[float] = []
            for i in range(args.rounds):
                for case, (steps, seconds, n) in cases.items():
                    hands[case] += by_hand(script, steps, seconds, n)
                    durations, between = through_worker(
                        client, script, steps, seconds, n, f"{case}-{i}"
                    )
                    worked[case] += durations
                    gaps += between
            print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite")
            print(
                "| script | n | by hand: median / min (s) | worker: median / min (s) "
                "| overhead: median / min (s) | share (median) |"
            )
            print("|---|---|---|---|---|---|")
            overhead: dict[str, float] = {}
            for case in cases:
                h, w = hands[case], worked[case]
                over = statistics.median(w) - statistics.median(h)
                overhead[case] = over
                print(
                    f"| {case} | {len(w)} | {statistics.median(h):.3f} / {min(h):.3f} "
                    f"| {statistics.median(w):.3f} / {min(w):.3f} "
                    f"| {over:+.3f} / {min(w) - min(h):+.3f} "
                    f"| {over / statistics.median(h):.1%} |"
                )
            print(
                f"gap from a result to the next trial's claim: median "
                f"{statistics.median(gaps) * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms"
            )
            long_case = list(cases)[1]
            print(
                "extrapolated to a 30 s trial reporting as often: "
                f"{overhead[long_case] / 30:.2%} (the {long_case} overhead over 30 s)"
            )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(30)
            stop_serve(server)


if __name__ == "__main__":
    main()
