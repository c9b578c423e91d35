"""Per-trial orchestration cost (issue 12): what a trial costs besides its training.

One client speaks the worker protocol as `hpo worker` does against a real `hpo serve` on the
embedded default (SQLite), with no training in between, so everything measured is
orchestration. Two hpo loops, interleaved in the same run:

- `hpo-batched`: what `hpo worker` does for a study without a pruner (`Lease.sync_reports`
  false): its reports go through the worker's own `hpo.worker.reports.ReportSender` (the
  request at most a second after the attempt started or after the last one: with no
  training between epochs, all ten ride with `complete-and-claim`);
- `hpo-per-report` (the baseline: every report of a study with a pruner, and every report
  before batching): claim, one report request per epoch, `complete-and-claim`.

Per trial: wall time, the client's CPU, the server's CPU (from /proc), and their sum; then the
server's CPU per request kind (claim alone, a report, complete alone, a complete carrying
the epochs' reports), measured with the same requests in isolation. Beside it, in the same
run, Optuna's own orchestration for the same loop (ask, `trial.report` + `should_prune` per
epoch, tell) with its RDB storage on SQLite (what a plain Optuna script with a database pays)
and in memory. `--profile-server FILE`: run the server under cProfile, every thread
(bench/_profiled_serve.py), and write its stats there (slower: read shares, not times).

    .venv/bin/python bench/orchestration.py [--trials 300] [--epochs 10] [--sampler random]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from hpo.client import Client
from hpo.outage import Outage
from hpo.serving import free_port, start_serve, stop_serve, wait_healthy
from hpo.worker.reports import ReportSender

SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256, "log": True},
    "depth": {"type": "int", "low": 1, "high": 4},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5},
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def value_of(params: dict[str, Any], epoch: int) -> float:
    return float(params["dropout"]) + 1.0 / (epoch + 1) + abs(float(params["lr"]) - 0.01)


def hpo_loop(client: Client, trials: int, epochs: int) -> int:
    """claim, `epochs` reports, complete-and-claim...: as `hpo worker`. Returns trials done."""
    done = 0
    lease = client.claim("bench-orchestration")
    while lease is not None and done < trials:
        for epoch in range(epochs):
            client.report(lease.trial_id, lease.lease_token, epoch, value_of(lease.params, epoch))
        _, lease = client.complete_and_claim(
            lease.trial_id,
            lease.lease_token,
            value_of(lease.params, epochs),
            {"val_loss": 0.1},
            "bench-orchestration",
        )
        done += 1
    return done


def hpo_batched_loop(client: Client, trials: int, epochs: int) -> int:
    """As `hpo_loop`, with the reports batched as `hpo worker` batches them for a study
    without a pruner (its own ReportSender)."""
    done = 0
    outage = Outage()
    lease = client.claim("bench-orchestration")
    while lease is not None and done < trials:
        reports = ReportSender(client, lease, outage)
        for epoch in range(epochs):
            reports.add(epoch, value_of(lease.params, epoch))
        _, lease = client.complete_and_claim(
            lease.trial_id,
            lease.lease_token,
            value_of(lease.params, epochs),
            {"val_loss": 0.1},
            "bench-orchestration",
            reports=reports.take_rest(),
        )
        done += 1
    return done


def optuna_loop(storage: str | None, trials: int, epochs: int, sampler: str) -> None:
    samplers: dict[str, Callable[[], optuna.samplers.BaseSampler]] = {
        "random": lambda: optuna.samplers.RandomSampler(seed=0),
        "tpe": lambda: optuna.samplers.TPESampler(seed=0, multivariate=True),
    }
    study = optuna.create_study(storage=storage, sampler=samplers[sampler]())
    for _ in range(trials):
        trial = study.ask()
        params = {
            "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
            "width": trial.suggest_int("width", 16, 256, log=True),
            "depth": trial.suggest_int("depth", 1, 4),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
        for epoch in range(epochs):
            trial.report(value_of(params, epoch), epoch)
            trial.should_prune()
        study.tell(trial, value_of(params, epochs))


def spec(name: str, trials: int, epochs: int, sampler: str) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "mnist1d", "epochs": epochs, "metric": "val_loss"},
        "space": SPACE,
        "sampler": sampler,
        "budget": {"n_trials": trials, "max_parallel": trials},
        "check_config": False,
    }


def per_request(client: Client, pid: int, epochs: int, n: int) -> dict[str, float]:
    """Server CPU ms per request kind, each kind sent n times on its own."""
    out: dict[str, float] = {}
    study = client.create_study(spec("per-request", n, epochs, "random"))
    leases = []
    c0 = cpu_seconds(pid)
    for _ in range(n):
        lease = client.claim("bench-per-request")
        assert lease is not None
        leases.append(lease)
    out["claim"] = (cpu_seconds(pid) - c0) * 1e3 / n
    c0 = cpu_seconds(pid)
    for lease in leases:
        client.report(lease.trial_id, lease.lease_token, 0, 0.5)
    out["report"] = (cpu_seconds(pid) - c0) * 1e3 / n
    c0 = cpu_seconds(pid)
    for lease in leases:
        client.complete(lease.trial_id, lease.lease_token, 0.5)
    out["complete"] = (cpu_seconds(pid) - c0) * 1e3 / n
    client.create_study(spec("per-request-carried", n, epochs, "random"))
    leases = []
    for _ in range(n):
        lease = client.claim("bench-per-request")
        assert lease is not None
        leases.append(lease)
    carried = [(epoch, 0.5) for epoch in range(epochs)]
    c0 = cpu_seconds(pid)
    for lease in leases:
        client.complete(lease.trial_id, lease.lease_token, 0.5, reports=carried)
    out[f"complete carrying {epochs} reports"] = (cpu_seconds(pid) - c0) * 1e3 / n
    del study
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sampler", default="random", choices=["random", "tpe"])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each side")
    parser.add_argument("--profile-server", type=Path, help="cProfile the server into this file")
    parser.add_argument(
        "--only", choices=["hpo-batched", "hpo-per-report"], help="run this hpo loop alone"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    loops: dict[str, Callable[[Client, int, int], int]] = {
        "hpo-batched": hpo_batched_loop,
        "hpo-per-report": hpo_loop,
    }
    if args.only:
        loops = {args.only: loops[args.only]}
    rows: dict[str, list[tuple[float, float, float]]] = {
        **{name: [] for name in loops},
        "optuna-sqlite": [],
        "optuna-memory": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "HPO_DATA_DIR": tmp, "HPO_LOG_LEVEL": "warning"}
        if args.profile_server is not None:
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("_profiled_serve.py")),
                 str(args.profile_server.resolve()), "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        else:
            process = start_serve(port, env=env, log=Path(tmp) / "serve.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, process, timeout=60)
            with Client(url) as client:
                hpo_loop(client, 5, args.epochs)  # nothing to claim yet: connection, imports
                client.create_study(spec("warm", 40, args.epochs, args.sampler))
                hpo_loop(client, 20, args.epochs)
                hpo_batched_loop(client, 20, args.epochs)
                for r in range(args.rounds):
                    # Alternate which hpo loop goes first, so neither always runs warmer.
                    order = list(loops.items()) if r % 2 == 0 else list(loops.items())[::-1]
                    for name, loop in order:
                        client.create_study(
                            spec(f"r{r}-{name}", args.trials, args.epochs, args.sampler)
                        )
                        w0, c0 = time.perf_counter(), time.process_time()
                        s0 = cpu_seconds(process.pid)
                        done = loop(client, args.trials, args.epochs)
                        wall = time.perf_counter() - w0
                        rows[name].append(
                            (
                                wall * 1e3 / done,
                                (time.process_time() - c0) * 1e3 / done,
                                (cpu_seconds(process.pid) - s0) * 1e3 / done,
                            )
                        )
                    for name, storage in (
                        ("optuna-sqlite", f"sqlite:///{tmp}/optuna-{r}.db"),
                        ("optuna-memory", None),
                    ):
                        w0, c0 = time.perf_counter(), time.process_time()
                        optuna_loop(storage, args.trials, args.epochs, args.sampler)
                        rows[name].append(
                            (
                                (time.perf_counter() - w0) * 1e3 / args.trials,
                                (time.process_time() - c0) * 1e3 / args.trials,
                                0.0,
                            )
                        )
                kinds = per_request(client, process.pid, args.epochs, 100)
        finally:
            stop_serve(process, timeout=15)

    def med(name: str, i: int) -> float:
        return statistics.median(row[i] for row in rows[name])

    load = "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    lines = [
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average at the end {load}; {args.trials} trials x {args.rounds} interleaved "
        f"rounds, {args.epochs} reports per trial, sampler {args.sampler}",
        "",
        "| loop | wall ms/trial | client CPU ms/trial | server CPU ms/trial | CPU ms/trial |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in (
        ("hpo-batched", "hpo, reports batched (no pruner): `hpo serve` (SQLite) over HTTP"),
        ("hpo-per-report", "hpo, one request per report (baseline; a pruner's studies)"),
        ("optuna-sqlite", "Optuna, RDB storage on SQLite, in process"),
        ("optuna-memory", "Optuna, in-memory storage, in process"),
    ):
        if name not in rows:
            continue
        lines.append(
            f"| {label} | {med(name, 0):.1f} | {med(name, 1):.1f} | "
            f"{med(name, 2):.1f} | {med(name, 1) + med(name, 2):.1f} |"
        )
    lines += [
        "",
        "hpo server CPU per request, each kind alone (100 each): "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in kinds.items()),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
