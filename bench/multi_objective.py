"""Several objectives: hypervolume per sampler on analytic fronts and on a real trade-off.

    nice .venv/bin/python bench/multi_objective.py zdt --seeds 5 --dim 5 --out bench/out/mo
    nice .venv/bin/python bench/multi_objective.py cnn --seeds 5 --trials 40 --epochs 1 \
        --train-size 800 --out bench/out/mo
    .venv/bin/python bench/multi_objective.py cnn-summary --trials 40 --out bench/out/mo

`zdt`: ZDT1 and ZDT2 (Zitzler, Deb & Thiele 2000) in `--dim` dimensions, both objectives
minimized, known fronts f2 = 1 - sqrt(f1) and f2 = 1 - f1^2. Each sampler runs 200
evaluations per seed through `hpo.optimize`; the hypervolume of its feasible front against the
reference (11, 11) is read at 100 and 200 evaluations. The true front's hypervolume against
that reference (120 + 2/3 for ZDT1, 120 + 1/3 for ZDT2) is the ceiling.

`cnn`: the MNIST-1D 1D-CNN (a reduced space, `--epochs` epochs, CPU, one thread; with
`--train-size N` trained on the first N of MNIST-1D's 3200 training examples, validated on
N/4 of its validation split, written once as an npz), objectives
val_accuracy (maximize) x n_params (minimize). Each sampler runs `--trials` trials per seed;
the hypervolume uses one reference for all runs: accuracy 0.1 (chance) and the largest
n_params any run produced, plus a tenth. The fronts of seed 0 go to bench/figures/. Each run
is appended to OUT/cnn-runs.jsonl as it ends; `cnn-summary` computes the table from it.

Every run of a sampler and its baseline (random) happen in this process, interleaved seed by
seed, so machine load hits them alike; the figures are hypervolumes, not times.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import hpo
from hpo.pareto import hypervolume, to_losses

ZDT_REFERENCE = (11.0, 11.0)
ZDT_OPTIONS: dict[str, dict[str, Any]] = {
    "nsga2": {"population_size": 20},
    "tpe": {"n_startup_trials": 10},
}
ZDT_SAMPLERS = ("random", "nsga2", "tpe", "lipo")
CNN_SAMPLERS = ("random", "tpe", "nsga2", "lipo")
CNN_OPTIONS: dict[str, dict[str, Any]] = {"nsga2": {"population_size": 10}}

CNN_SPACE = {
    "lr": {"type": "float", "low": 1.0e-3, "high": 3.0e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [64, 128, 256]},
    "depth": {"type": "int", "low": 1, "high": 3},
    "width": {"type": "int", "low": 4, "high": 64, "log": True},
    "kernel_size": {"type": "int", "low": 3, "high": 9, "step": 2},
    "dropout": {"type": "float", "low": 0.0, "high": 0.3},
}
CNN_OBJECTIVES = [
    {"metric": "val_accuracy", "direction": "maximize"},
    {"metric": "n_params", "direction": "minimize"},
]


def zdt(which: int, dim: int) -> Callable[[dict[str, Any]], tuple[float, float]]:
    def f(p: dict[str, Any]) -> tuple[float, float]:
        x = np.array([float(p[f"x{i}"]) for i in range(dim)])
        f1 = float(x[0])
        g = 1.0 + 9.0 * float(np.sum(x[1:])) / (dim - 1)
        h = 1.0 - np.sqrt(f1 / g) if which == 1 else 1.0 - (f1 / g) ** 2
        return f1, float(g * h)

    return f


def front_hypervolume(trials: Any, directions: list[str], reference: Any, upto: int) -> float:
    rows = [t.values for t in trials[:upto] if t.values is not None and t.feasible]
    if not rows:
        return 0.0
    return hypervolume(to_losses(rows, directions), reference)


def _summary(values: list[float]) -> dict[str, float]:
    q = np.percentile(values, [25, 50, 75])
    return {"q1": float(q[0]), "median": float(q[1]), "q3": float(q[2])}


def run_zdt(args: argparse.Namespace) -> dict[str, Any]:
    space = {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(args.dim)}
    out: dict[str, Any] = {}
    for which in (1, 2):
        name = f"zdt{which}"
        per: dict[str, dict[int, list[float]]] = {s: {100: [], 200: []} for s in args.samplers}
        seconds: dict[str, float] = dict.fromkeys(args.samplers, 0.0)
        for seed in range(args.seeds):
            for sampler in args.samplers:
                start = time.process_time()
                result = hpo.optimize(
                    zdt(which, args.dim),
                    space,
                    sampler=sampler,
                    n_trials=200,
                    seed=seed,
                    sampler_options=ZDT_OPTIONS.get(sampler),
                    objectives=["minimize", "minimize"],
                )
                seconds[sampler] += time.process_time() - start
                for upto in (100, 200):
                    hv = front_hypervolume(result.trials, ["minimize"] * 2, ZDT_REFERENCE, upto)
                    per[sampler][upto].append(hv)
                print(name, sampler, seed, [round(per[sampler][u][-1], 3) for u in (100, 200)])
        out[name] = {
            s: {
                **{str(u): _summary(per[s][u]) for u in (100, 200)},
                "cpu_s_per_run": seconds[s] / args.seeds,
            }
            for s in args.samplers
        }
    return out


def _small_mnist1d(train_size: int, folder: Path) -> str:
    """MNIST-1D cut to `train_size` training examples (and a quarter as many held out), as an
    npz dataset: the same task, cheaper trials, so 5 seeds x 4 samplers fit the machine."""
    from trainers import load_dataset

    data = load_dataset("mnist1d", seed=0)
    n_val = max(train_size // 4, 50)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"mnist1d-{train_size}.npz"
    np.savez(
        path,
        X=np.concatenate([data.x_train[:train_size], data.x_val[:n_val]])[:, 0, :],
        y=np.concatenate([data.y_train[:train_size], data.y_val[:n_val]]),
        X_test=data.x_test[:, 0, :],
        y_test=data.y_test,
    )
    return f"npz:{path}?kind=seq1d"


def _cnn_objective(
    epochs: int, dataset: str, roots: list[Path]
) -> Callable[[dict[str, Any]], dict[str, float]]:
    from trainers import build_run_config, run_training

    def f(params: dict[str, Any]) -> dict[str, float]:
        config = {
            "task": {"model": "cnn", "dataset": dataset, "epochs": epochs},
            "params": {**params, "optimizer": "adam"},
            "seed": 0,
        }
        cfg = build_run_config(config, device="cpu", threads=1)
        result = run_training(cfg, data_roots=roots)
        if not result.ok or result.val_accuracy is None:
            raise RuntimeError(result.message)
        return {"val_accuracy": float(result.val_accuracy), "n_params": float(result.n_params)}

    return f


def run_cnn(args: argparse.Namespace) -> dict[str, Any]:
    dataset = "mnist1d"
    roots: list[Path] = []
    if args.train_size:
        folder = Path(args.out).resolve() / "data"
        dataset, roots = _small_mnist1d(args.train_size, folder), [folder]
    objective = _cnn_objective(args.epochs, dataset, roots)
    runs: dict[str, list[Any]] = {s: [] for s in args.samplers}
    journal = Path(args.out) / "cnn-runs.jsonl"
    for seed in range(args.seeds):
        for sampler in args.samplers:
            result = hpo.optimize(
                objective,
                CNN_SPACE,
                sampler=sampler,
                n_trials=args.trials,
                seed=seed,
                sampler_options=CNN_OPTIONS.get(sampler),
                objectives=CNN_OBJECTIVES,
            )
            runs[sampler].append(result)
            print("cnn", sampler, seed, len(result.pareto), flush=True)
            with journal.open("a") as out:  # each run as it ends: a cut-short run keeps them
                values = [t.values for t in result.trials]
                out.write(json.dumps({"sampler": sampler, "seed": seed, "values": values}) + "\n")
    return summarize_cnn(journal, Path(args.figures), args.trials)


def summarize_cnn(journal: Path, figures: Path, trials: int) -> dict[str, Any]:
    """Hypervolume per sampler over the runs in the journal (every run that finished), and
    the figure of seed 0's fronts. One reference for all: accuracy 0.1 and the largest
    n_params of any run, plus a tenth."""
    runs: dict[str, list[list[list[float] | None]]] = {}
    for line in journal.read_text().splitlines():
        run = json.loads(line)
        runs.setdefault(run["sampler"], []).append(run["values"])
    directions = ["maximize", "minimize"]
    largest = max(v[1] for rs in runs.values() for r in rs for v in r if v is not None)
    reference = to_losses([[0.1, largest * 1.1]], directions)[0]

    def hv(run: list[list[float] | None]) -> float:
        rows = [v for v in run[:trials] if v is not None]
        return hypervolume(to_losses(rows, directions), reference) if rows else 0.0

    table = {s: {**_summary([hv(r) for r in rs]), "seeds": len(rs)} for s, rs in runs.items()}
    _plot_cnn_fronts(runs, figures)
    return {"reference": [0.1, largest * 1.1], "trials": trials, "hypervolume": table}


def _plot_cnn_fronts(runs: dict[str, list[list[list[float] | None]]], figures: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpo.pareto import pareto_front_indices

    figures.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (sampler, results) in enumerate(runs.items()):
        done = [v for v in results[0] if v is not None]
        color = f"C{i}"
        ax.scatter([v[1] for v in done], [v[0] for v in done], s=10, alpha=0.3, color=color)
        front = [done[j] for j in pareto_front_indices(to_losses(done, ["maximize", "minimize"]))]
        ax.step(
            [v[1] for v in front],
            [v[0] for v in front],
            where="post",
            color=color,
            label=f"{sampler} front",
        )
    ax.set_xscale("log")
    ax.set_xlabel("n_params (log)")
    ax.set_ylabel("val_accuracy")
    ax.set_title("MNIST-1D CNN, seed 0: every trial (dots) and each sampler's front")
    ax.legend()
    fig.tight_layout()
    fig.savefig(figures / "objectives-cnn-mnist1d-front.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["zdt", "cnn", "cnn-summary"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--dim", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=0, help="0: all 3200 examples")
    parser.add_argument("--samplers", default="")
    parser.add_argument("--out", default="bench/out/multi-objective")
    parser.add_argument("--figures", default="bench/figures")
    args = parser.parse_args()
    default = ZDT_SAMPLERS if args.part == "zdt" else CNN_SAMPLERS
    args.samplers = [s for s in args.samplers.split(",") if s] or list(default)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part == "cnn-summary":  # the runs journaled so far (a run cut short keeps them)
        result = summarize_cnn(out / "cnn-runs.jsonl", Path(args.figures), args.trials)
    else:
        result = run_zdt(args) if args.part == "zdt" else run_cnn(args)
    (out / f"{args.part}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
