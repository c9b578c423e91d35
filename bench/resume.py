"""Resume after a kill: how many epochs a built-in trial trains again when its worker is
SIGKILLed at a random point, with the checkpoints the worker uploads and without them.
`--task command`: the same for a command trial, tests/e2e/command_scripts/steps.py (a step
every 0.3 s, its next step written to HPO_CHECKPOINT_DIR before each report, read back when
it starts; the worker uploads the directory after each report and restores it on requeue).

Real processes: one `hpo serve` (SQLite), and per run a study of one MLP trial, a worker that
is SIGKILLed at a random moment of the trial, and a second worker that takes the requeued
attempt. "Without checkpoints" is the same run with the uploaded checkpoint deleted from the
server's artifact store before the second worker starts: the attempt then starts over, which
is what a trial did before checkpoints. Both arms alternate in one session on one machine.

    .venv/bin/python bench/resume.py --runs 6 --epochs 10
    .venv/bin/python bench/resume.py --task command --runs 6 --epochs 10

Figures per run: `finished` epochs the killed attempt had reported, `resumed_from` (the epoch
the second attempt started after), `retrained` = finished - resumed_from whole epochs trained
twice. The epoch in flight at the kill is lost in both arms (less than one epoch).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from hpo.bench.harness import machine_meta
from hpo.serving import free_port, start_serve, stop_serve, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "tests" / "e2e" / "command_scripts"


def command_spec(name: str, steps: int, seed: int) -> dict[str, Any]:
    return {
        "name": name,
        "task": {
            "kind": "command",
            "command": [sys.executable, "steps.py"],
            "workdir": str(SCRIPTS),
            "metric": "score",
            "direction": "minimize",
            "params_in_env": True,
            "env": {"STEPS": str(steps), "STEP_SECONDS": "0.3"},
        },
        "space": {"seed": {"type": "categorical", "choices": [seed]}},
        "sampler": "grid",
        "budget": {"n_trials": 1, "max_parallel": 1, "max_attempts": 3},
    }


def spec(name: str, epochs: int, seed: int) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "digits", "epochs": epochs, "metric": "val_accuracy"},
        "space": {"width": {"type": "categorical", "choices": [48]}},
        # Batches of 2: an epoch long enough (~0.4 s on one core) to kill inside the trial.
        "fixed": {
            "depth": 2,
            "batch_size": 2,
            "lr": 0.01,
            "optimizer": "sgd",
            "momentum": 0.9,
            "dropout": 0.2,
            "schedule": "cosine",
        },
        "sampler": "grid",
        "budget": {"n_trials": 1, "max_parallel": 1, "max_attempts": 3},
        "seed": seed,
    }


def start_worker(url: str, name: str, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", url, "--device", "cpu",
            "--threads", "1", "--poll-seconds", "0.2", "--worker-id", name,
            "--max-trials", "1", "--no-warm-up", "--allow-commands", str(SCRIPTS),
            "--work-dir", str(log.parent / "work")]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=out, env=env, cwd=ROOT)


def wait(predicate: Any, timeout: float, what: str, poll: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise RuntimeError(f"timed out waiting for {what}")


def one_run(
    http: httpx.Client, url: str, data_dir: Path, env: dict[str, str], *, run: int,
    epochs: int, checkpoints: bool, rng: random.Random, logs: Path, task: str,
) -> dict[str, Any]:  # fmt: skip
    make = command_spec if task == "command" else spec
    study = http.post("/api/v1/studies", json=make(f"resume-{run}", epochs, run)).json()
    # A built-in trial reports epochs 1, 2, ...; steps.py reports steps 0, 1, ...
    done_at_step = 1 if task == "command" else 0

    def trial() -> dict[str, Any]:
        items = http.get(f"/api/v1/studies/{study['id']}/trials").json()["items"]
        return dict(items[0]) if items else {}

    first_log = logs / f"first-{run}.log"
    first = start_worker(url, f"first-{run}", first_log, env)
    try:
        wait(lambda: (trial().get("last_step") or 0) >= 1, 300, "epoch 1")
    except RuntimeError:
        first.kill()
        raise RuntimeError(
            f"no epoch 1; the worker said: {first_log.read_text()[-2000:]}"
        ) from None
    t1 = time.monotonic()
    wait(lambda: (trial().get("last_step") or 0) >= 2, 300, "epoch 2")
    epoch_s = time.monotonic() - t1
    # A random moment of the rest of the trial (not its last epoch: the run must be killed).
    time.sleep(rng.uniform(0, (epochs - 4) * epoch_s))
    first.kill()
    first.wait()
    if trial()["state"] != "running":
        # The trial ended before the kill (epochs sped up as the machine's load fell): no
        # resume to measure. Counted apart, never as a run.
        return {"checkpoints": checkpoints, "missed": True}
    finished = int(trial()["last_step"]) + done_at_step
    if not checkpoints:
        shutil.rmtree(data_dir / "artifacts" / f"study-{study['id']}", ignore_errors=True)
    second = start_worker(url, f"second-{run}", logs / f"second-{run}.log", env)
    wait(lambda: trial().get("state") == "completed", 600, "the second attempt", poll=0.2)
    try:
        second.wait(timeout=60)  # --max-trials 1: it exits after the result
    except subprocess.TimeoutExpired:
        second.kill()
        second.wait()
        tail = (logs / f"second-{run}.log").read_text()[-1500:]
        print(
            f"run {run}: the second worker did not exit; killed. It said:\n{tail}", file=sys.stderr
        )
    done = trial()
    resumed_from = int(done["metrics"]["resumed_from"])
    return {
        "checkpoints": checkpoints,
        "finished": finished,
        "resumed_from": resumed_from,
        "retrained": finished - resumed_from,
        "epoch_s": round(epoch_s, 3),
        "attempt": done["attempt"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="runs per arm")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task", choices=("builtin", "command"), default="builtin")
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="hpo-resume-bench-") as tmp:
        work = Path(tmp)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
        env.update(
            {
                "HPO_DATA_DIR": str(work / "data"),
                "HPO_LEASE_SECONDS": "10",
                "HPO_REAPER_INTERVAL_SECONDS": "0.3",
                "HPO_CACHE_DIR": str(work / "cache"),
            }
        )
        server = start_serve(port, env=env, log=work / "serve.log", cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        runs = []
        try:
            wait_healthy(url, server, timeout=60)
            with httpx.Client(base_url=url, timeout=30) as http:
                for i in range(args.runs * 2):
                    row = one_run(http, url, work / "data", env, run=i, epochs=args.epochs,
                                  checkpoints=i % 2 == 0, rng=rng, logs=work,
                                  task=args.task)  # fmt: skip
                    print(json.dumps(row), flush=True)
                    if not row.get("missed"):
                        runs.append(row)
        finally:
            stop_serve(server)
    print(json.dumps({"machine": machine_meta(), "epochs": args.epochs, "task": args.task}))
    print("\n| arm | runs | epochs reported at the kill (mean) | re-trained: mean | max |")
    print("|---|---|---|---|---|")
    for arm in (True, False):
        rows = [r for r in runs if r["checkpoints"] is arm]
        if not rows:
            continue
        retrained = [r["retrained"] for r in rows]
        print(
            f"| {'with checkpoints' if arm else 'without (checkpoint deleted)'} | {len(rows)} "
            f"| {statistics.mean(r['finished'] for r in rows):.1f} "
            f"| {statistics.mean(retrained):.2f} | {max(retrained)} |"
        )
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
