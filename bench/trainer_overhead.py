"""Trainer overhead: seconds per epoch of `trainers.train` against a bare hand-written loop.

Both train the same MLP (depth 2, width 128, relu, dropout 0.1, Adam 1e-3, batch 128) on the
MNIST-1D training split (3200 rows) and score the validation split (800 rows) once per epoch, in
the same process on one CPU thread. Runs are interleaved (ABAB..., order alternating) so drift in
machine load hits both equally. The figure is the median over repetitions of
(our seconds per epoch) / (bare seconds per epoch), in wall time (median epoch of each run)
and in CPU time (the whole call, setup included, divided by the epochs; steadier when other
processes share the machine). The target is <= 1.05.

    .venv/bin/python bench/trainer_overhead.py [--reps 15] [--epochs 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from trainers import Dataset, MLPConfig, TrainConfig, load_dataset, train


def bare_loop(data: Dataset, epochs: int, seed: int) -> list[float]:
    """What one would write by hand: tensors, a permutation, index slices, Adam."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(40, 128),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Dropout(0.1),
        nn.Linear(128, 10),
    )
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    xv, yv = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), 128):
            idx = perm[i : i + 128]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(xv)
            _ = nn.functional.cross_entropy(logits, yv).item()
            _ = (logits.argmax(1) == yv).float().mean().item()
        seconds.append(time.perf_counter() - t0)
    return seconds


def our_loop(data: Dataset, epochs: int, seed: int, threads: int) -> list[float]:
    cfg = TrainConfig(
        epochs=epochs,
        lr=1e-3,
        batch_size=128,
        optimizer="adam",
        seed=seed,
        device="cpu",
        threads=threads,
    )
    result = train(MLPConfig(depth=2, width=128, activation="relu", dropout=0.1), data, cfg)
    return [h.seconds for h in result.history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    data = load_dataset("mnist1d", seed=0)
    bare_loop(data, 2, 0), our_loop(data, 2, 0, args.threads)  # warm up both code paths
    wall: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    wall_ratios, cpu_ratios = [], []
    for rep in range(args.reps):
        order = ("ours", "bare") if rep % 2 else ("bare", "ours")
        for which in order:
            t0 = time.process_time()
            if which == "ours":
                seconds = our_loop(data, args.epochs, rep, args.threads)
            else:
                seconds = bare_loop(data, args.epochs, rep)
            # CPU time of the whole call (setup included) per epoch: on a shared machine it is
            # less disturbed by other processes than wall time.
            cpu[which].append((time.process_time() - t0) / args.epochs)
            wall[which].append(statistics.median(seconds))
        wall_ratios.append(wall["ours"][-1] / wall["bare"][-1])
        cpu_ratios.append(cpu["ours"][-1] / cpu["bare"][-1])
        print(
            f"rep {rep:2d}: wall ms/epoch ours {wall['ours'][-1] * 1e3:6.1f} "
            f"bare {wall['bare'][-1] * 1e3:6.1f} ratio {wall_ratios[-1]:.3f} | "
            f"cpu ms/epoch ours {cpu['ours'][-1] * 1e3:6.1f} bare {cpu['bare'][-1] * 1e3:6.1f} "
            f"ratio {cpu_ratios[-1]:.3f}",
            flush=True,
        )
    summary = {
        "wall_ms_per_epoch": {k: statistics.median(v) * 1e3 for k, v in wall.items()},
        "wall_ratio_median": statistics.median(wall_ratios),
        "wall_ratio_quartiles": statistics.quantiles(wall_ratios, n=4),
        "cpu_ms_per_epoch": {k: statistics.median(v) * 1e3 for k, v in cpu.items()},
        "cpu_ratio_median": statistics.median(cpu_ratios),
        "cpu_ratio_quartiles": statistics.quantiles(cpu_ratios, n=4),
        "ratio_of_medians_cpu": statistics.median(cpu["ours"]) / statistics.median(cpu["bare"]),
        "reps": args.reps,
        "epochs": args.epochs,
        "threads": args.threads,
        "torch": str(torch.__version__),
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
