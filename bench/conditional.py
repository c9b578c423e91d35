"""Conditional spaces against their flattened form, per sampler (issue 15).

On MNIST-1D with an MLP whose optimizer and schedule parameters are conditional (momentum
only for momentum/nesterov, gamma only for the step and exponential schedules, step_size only
for step), each sampler runs `hpo.optimize` on the space with `when` and, with the same seed,
on the flattened space (every parameter always sampled; the trainers ignore the ones that do
not apply, so both evaluate the same models). Figures: median (and quartiles) over seeds of
the best validation accuracy after 30 and 60 trials, and the grid's size on a gridded copy of
each space. Small on purpose (a subsample of the training set, a few epochs, 1 thread): the
figures compare samplers on this cheap task, not the task's best accuracy. The defaults (5
seeds, 4 epochs, 1200 examples) take ~7 minutes on the shared 2-core dev machine; the run in
bench/fragments/conditional.md (10 seeds, 8 epochs, 3000 examples) took 48 minutes there:

    nice .venv/bin/python bench/conditional.py --seeds 10 --trials 60 --epochs 8 \
        --train-size 3000 --json /tmp/cond.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hpo.optimize import optimize
from hpo.space import SearchSpace
from trainers import build_run_config
from trainers.data import Dataset, load_dataset
from trainers.loop import train

SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1.0e-4, "high": 3.0e-2, "log": True},
    "batch_size": {"type": "categorical", "choices": [64, 128, 256]},
    "depth": {"type": "int", "low": 1, "high": 3},
    "width": {"type": "int", "low": 32, "high": 256, "log": True},
    "activation": {"type": "categorical", "choices": ["relu", "gelu", "tanh"]},
    "optimizer": {
        "type": "categorical",
        "choices": ["sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop"],
    },
    "momentum": {
        "type": "float",
        "low": 0.5,
        "high": 0.99,
        "when": {"optimizer": ["momentum", "nesterov"]},
    },
    "weight_decay": {"type": "float", "low": 1.0e-6, "high": 1.0e-2, "log": True},
    "schedule": {"type": "categorical", "choices": ["constant", "cosine", "step", "exponential"]},
    "gamma": {
        "type": "float",
        "low": 0.1,
        "high": 0.9,
        "when": {"schedule": ["step", "exponential"]},
    },
    "step_size": {"type": "int", "low": 1, "high": 3, "when": {"schedule": ["step"]}},
}

SAMPLERS = ("random", "tpe", "lipo")


def gridded(space: SearchSpace) -> SearchSpace:
    """A copy with 3 grid points on each continuous float (what a grid study would give)."""
    spec = space.to_dict()
    for p in spec.values():
        if p["type"] == "float" and "step" not in p:
            p["grid_points"] = 3
    return SearchSpace.from_dict(spec)


def make_objective(data: Dataset, epochs: int) -> Callable[[dict[str, Any]], float]:
    def objective(params: dict[str, Any]) -> float:
        cfg = build_run_config(
            {
                "task": {"model": "mlp", "dataset": "mnist1d", "epochs": epochs},
                "params": params,
                "seed": 0,
            },
            device="cpu",
            threads=1,
        )
        result = train(cfg.model, data, cfg.train)
        return float(result.val_accuracy or 0.0)

    return objective


def best_after(values: list[float | None], n: int) -> float:
    seen = [v for v in values[:n] if v is not None]
    return max(seen) if seen else float("nan")


def quartiles(xs: list[float]) -> tuple[float, float, float]:
    q = np.percentile(xs, [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train-size", type=int, default=1200)
    parser.add_argument("--samplers", default=",".join(SAMPLERS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    conditional = SearchSpace.from_dict(SPACE)
    flat = conditional.flattened()
    full = load_dataset("mnist1d", seed=0)
    data = replace(
        full, x_train=full.x_train[: args.train_size], y_train=full.y_train[: args.train_size]
    )
    objective = make_objective(data, args.epochs)
    checkpoints = [n for n in (30, 60) if n <= args.trials] or [args.trials]
    grid = {"conditional": gridded(conditional).grid_size(), "flat": gridded(flat).grid_size()}
    print(f"grid size (3 points per float): conditional {grid['conditional']}, flat {grid['flat']}")
    raw: dict[str, dict[str, list[list[float | None]]]] = {}
    started = time.perf_counter()
    for sampler in args.samplers.split(","):
        raw[sampler] = {"conditional": [], "flat": []}
        for seed in range(args.seeds):
            for label, space in (("conditional", conditional), ("flat", flat)):
                t0 = time.perf_counter()
                result = optimize(
                    objective,
                    space,
                    n_trials=args.trials,
                    sampler=sampler,
                    direction="maximize",
                    seed=seed,
                )
                values = [t.value for t in result.trials]
                raw[sampler][label].append(values)
                print(
                    f"{sampler:6s} {label:11s} seed {seed}: best@{checkpoints[-1]} "
                    f"{best_after(values, checkpoints[-1]):.4f} ({time.perf_counter() - t0:.0f} s)",
                    flush=True,
                )
    print(f"\ntotal {time.perf_counter() - started:.0f} s on {platform.processor() or 'cpu'}")
    header = "| sampler | space | " + " | ".join(
        f"best val acc @{n} median [q1, q3]" for n in checkpoints
    )
    print("\n" + header + " |")
    print("|" + "---|" * (2 + len(checkpoints)))
    for sampler, by_space in raw.items():
        for label, runs in by_space.items():
            cells = []
            for n in checkpoints:
                q1, med, q3 = quartiles([best_after(v, n) for v in runs])
                cells.append(f"{med:.4f} [{q1:.4f}, {q3:.4f}]")
            print(f"| {sampler} | {label} | " + " | ".join(cells) + " |")
    wins = {
        s: statistics.fmean(
            float(best_after(c, checkpoints[-1]) >= best_after(f, checkpoints[-1]))
            for c, f in zip(by["conditional"], by["flat"], strict=True)
        )
        for s, by in raw.items()
    }
    print("\nseeds where conditional >= flat at the last checkpoint: " + str(wins))
    if args.json:
        args.json.write_text(
            json.dumps({"grid": grid, "raw": raw, "args": vars(args)}, default=str)
        )


if __name__ == "__main__":
    main()
