"""Reference accuracies of the shipped training configs on this machine.

For each config and seed: a search-style run (train on train, best validation epoch, its weights
scored on test) and a final run (`hpo train --final`: train + validation, then test). Prints a
markdown table of mean ± sd over seeds. The MNIST-1D paper reports ~68% (MLP) and ~94% (CNN)
test accuracy.

    .venv/bin/python bench/reference_accuracy.py [--seeds 3] [CONFIG.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml

from trainers import build_run_config, run_training

DEFAULT_CONFIGS = [
    "search_spaces/configs/mlp_mnist1d.yaml",
    "search_spaces/configs/cnn_mnist1d.yaml",
    "search_spaces/configs/cnn_digits.yaml",
]


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * sd:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=DEFAULT_CONFIGS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()

    rows, raw = [], {}
    for path in args.configs:
        base = build_run_config(yaml.safe_load(Path(path).read_text()), device="cpu")
        figures: dict[str, list[float]] = {"val": [], "test": [], "final_test": [], "s_epoch": []}
        for seed in range(args.seeds):
            cfg = base.with_seed(seed)
            search = run_training(cfg, evaluate_test=True)
            final = run_training(cfg, final=True)
            assert search.val_accuracy is not None and search.test_accuracy is not None
            assert final.test_accuracy is not None
            figures["val"].append(search.val_accuracy)
            figures["test"].append(search.test_accuracy)
            figures["final_test"].append(final.test_accuracy)
            figures["s_epoch"].append(search.seconds_per_epoch)
            print(
                f"{path} seed {seed}: val {search.val_accuracy:.4f} (epoch "
                f"{search.best_epoch}) test {search.test_accuracy:.4f} final test "
                f"{final.test_accuracy:.4f} {search.seconds_per_epoch:.3f} s/epoch",
                flush=True,
            )
        raw[path] = figures
        rows.append(
            f"| {Path(path).name} | {base.train.epochs} | {_mean_sd(figures['val'])} | "
            f"{_mean_sd(figures['test'])} | {_mean_sd(figures['final_test'])} | "
            f"{statistics.median(figures['s_epoch']):.3f} |"
        )
    print(f"\n{args.seeds} seeds, accuracy in % (mean ± sd), {time.strftime('%Y-%m-%d')}\n")
    print(
        "| config | epochs | val (best epoch) | test (best-val weights) | test (--final) "
        "| s/epoch |"
    )
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=2))


if __name__ == "__main__":
    main()
