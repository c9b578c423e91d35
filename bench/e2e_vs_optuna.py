"""Issue 12, end to end: the same MLP trials on MNIST-1D trained by hpo (a real `hpo serve` on
the embedded SQLite default and 2 real `hpo worker` processes on the CPU) and by a plain Optuna
script (`n_jobs=2`, in-memory storage; or, with `--optuna-processes`, two Optuna processes
sharing a JournalStorage file, n_jobs=1 each) calling our trainers directly. Target:
hpo/optuna wall time <= 1.05x.

Two modes, each a set of interleaved A/B pairs (ABBA: the order flips every run):
- `fixed`: 24 fixed configurations (lr x width x depth x batch_size). hpo: a study over REST
  with the 24 enqueued; Optuna: `study.enqueue_trial` for each.
- `tpe`: 24 trials sampled by TPE over the same four parameters. hpo: sampler `tpe` (defaults:
  multivariate, constant liar, 10 startup trials, 24 EI candidates); Optuna: `TPESampler` with
  those same options.

Per trial both arms call the same trainer the same way: `trainers.config.build_run_config` on
the same `{task, params, seed}` (seed fixed per study), `run_training` with `keep_weights=True`
and a checkpoint folder, `--threads` torch threads, the same npz file (the first
`--train-size` rows of MNIST-1D's training set; a fifth held out for validation). What differs
is what each arm does around it: hpo's worker sends a report, uploads the checkpoint and streams
a log line per epoch, keeps the weights as an output, and claims over HTTP; its server runs the
sampler and prepares suggestions, on the same cores. Optuna's two trials run as threads of one
process (they share the GIL; hpo's workers are processes).

Figures per run: wall time from study creation until the study is finished, with the workers
(or the Optuna process) already started, imported and warmed up ("created"); and "started":
hpo's worker start-up until both are ready (first claim) plus the "created" figure, Optuna's
process start until its study ends (imports and the same warm-up included). Also "trainer s",
the trials' `seconds_total` summed (time inside the trainer: the epochs, each epoch's checkpoint
and its callback, which in hpo sends the report and uploads the checkpoint, and in Optuna is
`trial.report`; data loading not included), the CPU seconds of the arm's processes (hpo: server
and workers) during the study, and the 1-minute load average before each run.

    .venv/bin/python bench/e2e_vs_optuna.py [--pairs 3] [--epochs 20] [--train-size 4000]
        [--modes fixed,tpe] [--threads 1] [--json out.json] [--optuna-processes]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _service_bench import ROOT, machine_line

N_TRIALS = 24
N_WORKERS = 2
SEED = 0
MODES = ("fixed", "tpe")

# The fixed configurations: every combination, the last parameter varying fastest (the order
# of enqueueing, and the grid's own order, see `fixed_spec`).
GRID: dict[str, list[Any]] = {
    "lr": [1e-3, 3e-3, 1e-2],
    "width": [32, 128],
    "depth": [1, 2],
    "batch_size": [64, 128],
}
FIXED_CONFIGS: list[dict[str, Any]] = [
    dict(zip(GRID, values, strict=True)) for values in itertools.product(*GRID.values())
]
assert len(FIXED_CONFIGS) == N_TRIALS
# Held constant in both modes.
CONSTANT: dict[str, Any] = {"activation": "relu", "dropout": 0.1, "optimizer": "adam"}
# TPE's space: the same four parameters, over the fixed grid's ranges.
TPE_SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
    "width": {"type": "int", "low": 32, "high": 128, "log": True},
    "depth": {"type": "int", "low": 1, "high": 2},
    "batch_size": {"type": "categorical", "choices": [64, 128]},
}
TPE_OPTIONS: dict[str, Any] = {
    "n_startup_trials": 10,
    "n_ei_candidates": 24,
    "multivariate": True,
    "constant_liar": True,
}


@dataclass(frozen=True)
class Setup:
    epochs: int
    threads: int
    dataset: str  # the task's dataset, a file under data_root
    data_root: Path


@dataclass(frozen=True)
class Run:
    arm: str  # hpo | optuna
    mode: str
    load: float  # 1-minute load average before the run
    created_s: float  # study created -> finished, workers already idle
    started_s: float  # workers (process) started -> finished (hpo: ready + created)
    train_s: float  # the trials' seconds_total (inside the trainer), summed
    cpu_s: float  # CPU of the arm's processes, study created -> finished
    trials: int  # completed
    server_cpu_s: float = 0.0  # hpo: the part of cpu_s that is `hpo serve`'s


def task(setup: Setup) -> dict[str, Any]:
    return {
        "model": "mlp",
        "dataset": setup.dataset,
        "epochs": setup.epochs,
        "metric": "val_accuracy",
        "direction": "maximize",
    }


def write_dataset(root: Path, train_size: int) -> str:
    """The first `train_size` rows of MNIST-1D's training pool (and its whole test set) as an
    npz file under `root`, unstandardized, shaped (n, 1, 40) as the built-in dataset is; returns
    the task's dataset name for it."""
    import numpy as np

    from trainers.data import load_dataset

    raw = load_dataset({"name": "mnist1d", "standardize": False}, val_fraction=0.0)
    if not 10 <= train_size <= len(raw.y_train):
        raise SystemExit(f"--train-size must be in 10..{len(raw.y_train)}")
    name = f"mnist1d-first{train_size}.npz"
    root.mkdir(parents=True, exist_ok=True)
    np.savez(
        root / name,
        X=raw.x_train[:train_size],
        y=raw.y_train[:train_size],
        X_test=raw.x_test,
        y_test=raw.y_test,
    )
    return f"npz:{name}"


# --- the Optuna arm: a child process (this script with --optuna-arm) --------------------------


def _objective(mode: str, setup: Setup) -> Callable[[Any], float]:
    """The Optuna arm's objective: the same trainer call as hpo's worker makes."""
    import optuna

    from trainers.config import build_run_config, run_training

    def objective(trial: optuna.Trial) -> float:
        if mode == "fixed":
            params = {k: trial.suggest_categorical(k, choices) for k, choices in GRID.items()}
        else:
            params = {
                "lr": trial.suggest_float("lr", 1e-3, 1e-2, log=True),
                "width": trial.suggest_int("width", 32, 128, log=True),
                "depth": trial.suggest_int("depth", 1, 2),
                "batch_size": trial.suggest_categorical("batch_size", [64, 128]),
            }
        config = {"task": task(setup), "params": {**CONSTANT, **params}, "seed": SEED}
        cfg = build_run_config(config, device="cpu", threads=setup.threads)

        def on_epoch(epoch: int, value: float, train_loss: float) -> bool:
            trial.report(value, epoch)
            return trial.should_prune()

        with tempfile.TemporaryDirectory(prefix="e2e-optuna-") as scratch:
            result = run_training(
                cfg,
                on_epoch,
                data_roots=[setup.data_root],
                keep_weights=True,
                checkpoint_dir=Path(scratch),
            )
        trial.set_user_attr("train_s", result.seconds_total)
        if result.val_accuracy is None:
            raise RuntimeError(f"{result.status}: {result.message}")
        return float(result.val_accuracy)

    return objective


def _optuna_sampler(mode: str) -> Any:
    import optuna

    if mode == "fixed":
        return optuna.samplers.RandomSampler(seed=SEED)
    return optuna.samplers.TPESampler(seed=SEED, **TPE_OPTIONS)


def _quiet_optuna() -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def optuna_arm(mode: str, setup: Setup, processes: bool) -> dict[str, Any]:
    """A plain Optuna script: imports and the worker's warm-up, then the study. With
    `processes`, the study lives in a JournalStorage file and N_WORKERS worker processes
    (started, imported and warmed up before the study is created, as hpo's are) run it with
    n_jobs=1 each; otherwise one process runs it with n_jobs=N_WORKERS threads. Returns wall
    clock times (time.time()) and CPU seconds of the study."""
    import optuna

    from trainers.warmup import warm_up

    _quiet_optuna()
    if processes:
        return _optuna_processes(mode, setup)
    warm_up("cpu")  # what `hpo worker` does before its first claim
    cpu0 = _own_cpu()
    created = time.time()
    study = optuna.create_study(direction="maximize", sampler=_optuna_sampler(mode))
    if mode == "fixed":
        for config in FIXED_CONFIGS:
            study.enqueue_trial(config)
    study.optimize(_objective(mode, setup), n_trials=N_TRIALS, n_jobs=N_WORKERS)
    ended = time.time()
    return _summary(study, created, ended, _own_cpu() - cpu0)


def _summary(study: Any, created: float, ended: float, cpu_s: float) -> dict[str, Any]:
    import optuna

    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {
        "created": created,
        "ended": ended,
        "cpu_s": cpu_s,
        "train_s": sum(float(t.user_attrs["train_s"]) for t in done),
        "trials": len(done),
    }


def _journal(path: str) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(path))


def _optuna_processes(mode: str, setup: Setup) -> dict[str, Any]:
    import optuna

    with tempfile.TemporaryDirectory(prefix="e2e-optuna-journal-") as scratch:
        journal = str(Path(scratch) / "study.log")
        argv = [sys.executable, str(Path(__file__).resolve()), "--optuna-worker", journal,
                "--optuna-arm", mode, "--epochs", str(setup.epochs),
                "--threads", str(setup.threads), "--dataset", setup.dataset,
                "--data-root", str(setup.data_root)]  # fmt: skip
        workers = [
            subprocess.Popen(
                argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            for _ in range(N_WORKERS)
        ]
        for w in workers:  # each says "ready" once imported and warmed up
            assert w.stdout is not None and w.stdout.readline().strip() == "ready"
        cpu0 = _own_cpu()
        created = time.time()
        study = optuna.create_study(
            storage=_journal(journal),
            study_name="e2e",
            direction="maximize",
            sampler=_optuna_sampler(mode),
        )
        if mode == "fixed":
            for config in FIXED_CONFIGS:
                study.enqueue_trial(config)
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()  # communicate() below closes it
        worker_cpu = 0.0
        for w in workers:
            out, _ = w.communicate()
            if w.returncode != 0:
                raise SystemExit(f"an Optuna worker process failed ({w.returncode})")
            worker_cpu += float(json.loads(out.strip().splitlines()[-1])["cpu_s"])
        ended = time.time()
        study = optuna.load_study(study_name="e2e", storage=_journal(journal))
        return _summary(study, created, ended, _own_cpu() - cpu0 + worker_cpu)


def optuna_worker(journal: str, mode: str, setup: Setup) -> None:
    """One of `_optuna_processes`' workers: warm up, say ready, wait for the study, run its
    share of the trials (n_jobs=1), print its CPU seconds."""
    import optuna

    from trainers.warmup import warm_up

    _quiet_optuna()
    warm_up("cpu")
    print("ready", flush=True)
    sys.stdin.readline()
    cpu0 = _own_cpu()
    study = optuna.load_study(
        study_name="e2e", storage=_journal(journal), sampler=_optuna_sampler(mode)
    )
    study.optimize(_objective(mode, setup), n_trials=N_TRIALS // N_WORKERS, n_jobs=1)
    print(json.dumps({"cpu_s": _own_cpu() - cpu0}), flush=True)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_optuna(mode: str, setup: Setup, processes: bool) -> Run:
    load = os.getloadavg()[0]
    argv = [sys.executable, str(Path(__file__).resolve()), "--optuna-arm", mode,
            *(["--optuna-processes"] if processes else []),
            "--epochs", str(setup.epochs), "--threads", str(setup.threads),
            "--dataset", setup.dataset, "--data-root", str(setup.data_root)]  # fmt: skip
    started = time.time()
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the Optuna arm failed ({done.returncode}):\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(
        "optuna",
        mode,
        load,
        created_s=out["ended"] - out["created"],
        started_s=out["ended"] - started,
        train_s=out["train_s"],
        cpu_s=out["cpu_s"],
        trials=out["trials"],
    )


# --- the hpo arm: hpo serve + 2 hpo worker processes ---------------------------------------------


def study_spec(mode: str, setup: Setup, name: str) -> dict[str, Any]:
    if mode == "fixed":
        # A grid over exactly the 24 configurations, in enqueueing order: a worker that claims
        # before the enqueues land (it is idle, woken by the creation) gets one of the same 24
        # (and its enqueue is then a no-op, deduplicated), so every run trains the same set.
        space: dict[str, Any] = {k: {"type": "categorical", "choices": v} for k, v in GRID.items()}
        sampler = {"name": "grid", "options": {"shuffle": False}}
    else:
        space, sampler = TPE_SPACE, {"name": "tpe", "options": TPE_OPTIONS}
    return {
        "name": name,
        "task": task(setup),
        "space": space,
        "fixed": CONSTANT,
        "sampler": sampler,
        "pruner": {"name": "none"},
        "budget": {"n_trials": N_TRIALS, "max_parallel": N_WORKERS, "max_attempts": 1},
        "seed": SEED,
    }


def run_hpo(mode: str, setup: Setup, tmp: Path, index: int) -> Run:
    import psutil

    from hpo.client import Client
    from hpo.serving import running_serve

    data_dir = tmp / f"hpo-{mode}-{index}"
    data_dir.mkdir()
    env = {**os.environ, "HPO_DATA_DIR": str(data_dir), "HPO_LOG_LEVEL": "warning"}
    with running_serve(env=env, log=data_dir / "serve.log") as served, Client(served.url) as client:
        load = os.getloadavg()[0]
        spawned = time.time()
        workers = [
            start_worker(served.url, setup, f"e2e-{i}", env, data_dir / f"worker-{i}.log")
            for i in range(N_WORKERS)
        ]
        try:
            ready = wait_for(lambda: ready_at(client, workers), what="both workers' first claim")
            processes = [psutil.Process(p.pid) for p in (served.process, *workers)]
            cpu0 = sum(_cpu(p) for p in processes)
            server0 = _cpu(processes[0])
            created = time.time()
            study = client.create_study(study_spec(mode, setup, f"e2e-{mode}-{index}"))
            if mode == "fixed":
                for config in FIXED_CONFIGS:
                    client.enqueue(study.id, config)
            # Polled slowly: the end is read off the trials' finished_at, and each poll is
            # server CPU taken from the training on the same cores.
            wait_for(
                lambda: finished(client, study.id, workers),
                what="the study to finish",
                every=0.5,
            )
            cpu_s = sum(_cpu(p) for p in processes) - cpu0
            server_cpu_s = _cpu(processes[0]) - server0
            trials = client.trials(study.id, limit=N_TRIALS + 10).items
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()  # idle in a claim: nothing of theirs is left to finish
                worker.wait(timeout=30)
    completed = [t for t in trials if t.state == "completed"]
    if len(completed) != N_TRIALS:
        states = sorted({str(t.state) for t in trials})
        raise SystemExit(f"hpo: {len(completed)} of {N_TRIALS} trials completed ({states})")
    ended = max(t.finished_at.timestamp() for t in completed if t.finished_at is not None)
    return Run(
        "hpo",
        mode,
        load,
        created_s=ended - created,
        started_s=(ready - spawned) + (ended - created),
        train_s=sum(float((t.metrics or {}).get("seconds_total", 0.0)) for t in completed),
        cpu_s=cpu_s,
        trials=len(completed),
        server_cpu_s=server_cpu_s,
    )


def start_worker(
    url: str, setup: Setup, name: str, env: Mapping[str, str], log: Path
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", url, "--device", "cpu",
            "--threads", str(setup.threads), "--data-root", str(setup.data_root),
            "--worker-id", name]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=dict(env), stdout=out, stderr=out)


def ready_at(client: Any, workers: Sequence[subprocess.Popen[bytes]]) -> float | None:
    """When the later of the workers made its first claim (server clock), once both have."""
    _check_alive(workers)
    seen = client.list_workers()
    if len(seen) < N_WORKERS:
        return None
    return float(max(w.first_seen.timestamp() for w in seen))


def finished(client: Any, study_id: int, workers: Sequence[subprocess.Popen[bytes]]) -> bool:
    _check_alive(workers)
    state = client.get_study(study_id).state
    if state in ("paused", "cancelled"):
        raise SystemExit(f"hpo: study {study_id} is {state}")
    return bool(state == "completed")


def _check_alive(workers: Sequence[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is not None:
            raise SystemExit(f"hpo worker exited with {worker.returncode} (see its log)")


def wait_for(
    check: Callable[[], Any], *, what: str, timeout: float = 1800.0, every: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(every)
    raise SystemExit(f"gave up waiting for {what} after {timeout:.0f} s")


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


# --- the driver -----------------------------------------------------------------------------------


def table(mode: str, pairs: Sequence[tuple[Run, Run]]) -> list[str]:
    lines = [
        "| pair | order | load (hpo / optuna) | hpo created s | optuna created s | ratio "
        "| hpo started s | optuna started s | ratio | trainer s (hpo / optuna) "
        "| CPU s (hpo / optuna) |",
        "|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, (h, o) in enumerate(pairs):
        order = "hpo, optuna" if _hpo_first(i, mode) else "optuna, hpo"
        lines.append(
            f"| {i} | {order} | {h.load:.2f} / {o.load:.2f} | {h.created_s:.2f} "
            f"| {o.created_s:.2f} | {h.created_s / o.created_s:.3f} | {h.started_s:.2f} "
            f"| {o.started_s:.2f} | {h.started_s / o.started_s:.3f} "
            f"| {h.train_s:.2f} / {o.train_s:.2f} | {h.cpu_s:.2f} / {o.cpu_s:.2f} |"
        )
    created = statistics.median(h.created_s / o.created_s for h, o in pairs)
    started = statistics.median(h.started_s / o.started_s for h, o in pairs)
    lines.append("")
    lines.append(
        f"{mode}: median hpo/optuna {created:.3f}x from study created (workers idle), "
        f"{started:.3f}x from workers started (target <= 1.05x), {len(pairs)} pairs"
    )
    return lines


def _hpo_first(pair: int, mode: str) -> bool:
    # ABBA: the order flips with every pair and between the modes of one pair.
    return (pair + MODES.index(mode)) % 2 == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-size", type=int, default=4000, help="MNIST-1D rows (max 4000)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per trial")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", type=Path, help="also write every run here")
    parser.add_argument(
        "--optuna-processes",
        action="store_true",
        help=f"the Optuna arm as {N_WORKERS} processes sharing a JournalStorage file (n_jobs=1 "
        f"each), as hpo's workers are processes; default: one process, n_jobs={N_WORKERS}",
    )
    # The Optuna arm's child process (internal).
    parser.add_argument("--optuna-arm", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--data-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--optuna-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.optuna_arm:
        setup = Setup(args.epochs, args.threads, args.dataset, args.data_root)
        if args.optuna_worker:
            optuna_worker(args.optuna_worker, args.optuna_arm, setup)
            return
        print(json.dumps(optuna_arm(args.optuna_arm, setup, args.optuna_processes)))
        return
    modes = [m for m in args.modes.split(",") if m]
    if not set(modes) <= set(MODES):
        raise SystemExit(f"--modes: choose from {', '.join(MODES)}")
    with tempfile.TemporaryDirectory(prefix="e2e-vs-optuna-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "datasets"
        setup = Setup(args.epochs, args.threads, write_dataset(root, args.train_size), root)
        print(f"# {machine_line()}; load before: {os.getloadavg()[0]:.2f}", flush=True)
        print(
            f"# {N_TRIALS} trials, {N_WORKERS} workers / n_jobs, {args.epochs} epochs, "
            f"train-size {args.train_size}, {args.threads} thread(s) per trial",
            flush=True,
        )
        results: dict[str, list[tuple[Run, Run]]] = {m: [] for m in modes}
        for pair in range(args.pairs):
            for mode in modes:
                runs: dict[str, Run] = {}
                order = ("hpo", "optuna") if _hpo_first(pair, mode) else ("optuna", "hpo")
                for arm in order:
                    if arm == "hpo":
                        runs[arm] = run_hpo(mode, setup, tmp, pair)
                    else:
                        runs[arm] = run_optuna(mode, setup, args.optuna_processes)
                    r = runs[arm]
                    print(
                        f"pair {pair} {mode:5s} {arm:6s}: created {r.created_s:6.2f} s, "
                        f"started {r.started_s:6.2f} s, train {r.train_s:6.2f} s, "
                        f"CPU {r.cpu_s:6.2f} s"
                        + (f" (server {r.server_cpu_s:5.2f})" if r.arm == "hpo" else "")
                        + f", load {r.load:.2f}",
                        flush=True,
                    )
                results[mode].append((runs["hpo"], runs["optuna"]))
    print()
    for mode, pairs in results.items():
        print(f"#### {mode}\n")
        print("\n".join(table(mode, pairs)))
        print()
    if args.json:
        rows = [asdict(r) for pairs in results.values() for pair in pairs for r in pair]
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
