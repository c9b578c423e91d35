"""Best-so-far figures and the result tables of a sampler comparison (bench/cnn_tuning_run.py).

    .venv/bin/python bench/cnn_tuning_plots.py bench/out/cnn-tuning \
        --figures bench/figures --prefix cnn-mnist1d-comparison

Reads DIR/comparison.json (`GET /api/v1/comparisons/{id}`, saved by cnn_tuning_run.py; after
`hpo compare --id N --final` it holds each winner's test metric) and DIR/trials.json (every
study's trials). Writes PREFIX-by-trial.png and PREFIX-by-time.png (each sampler's median
best-so-far validation accuracy over seeds with its interquartile band, as the service
computes them) and prints markdown tables: the ranking with test metrics, the budget each
sampler spent (trials by state, epochs, training seconds) and each sampler's winning config.
"""

from __future__ import annotations

import argparse
import bisect
import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np


def y_floor(view: dict[str, Any]) -> float:
    """The plots' lower y limit, the same for both: the lowest first quartile over samplers
    once a tenth of the trials have finished (the curves start far lower and would squash the
    part where they separate)."""
    lows = []
    for name in view["samplers"]:
        curve = view["curves"][name]["by_trial"]
        k = max(0, len(curve["x"]) // 10 - 1)
        q25 = [v for v in curve["q25"][k:] if v is not None]
        if q25:
            lows.append(min(q25))
    return max(0.0, min(lows) - 0.01) if lows else 0.0


def plot(view: dict[str, Any], axis: str, path: Path, xlabel: str, log_x: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot's import
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    highs = []
    for result in view["results"]:  # ranked: the legend lists the best first
        name = result["sampler"]
        curve = view["curves"][name][axis]
        x = np.asarray(curve["x"], dtype=float)
        med = np.asarray([np.nan if v is None else v for v in curve["median"]], dtype=float)
        q25 = np.asarray([np.nan if v is None else v for v in curve["q25"]], dtype=float)
        q75 = np.asarray([np.nan if v is None else v for v in curve["q75"]], dtype=float)
        label = f"{result['rank']}. {name}: {result['median_best']:.4f}"
        (line,) = ax.step(x, med, where="post", label=label, linewidth=1.4)
        ax.fill_between(x, q25, q75, step="post", color=line.get_color(), alpha=0.15, linewidth=0)
        ax.plot(x[-1:], med[-1:], "o", color=line.get_color(), markersize=4)  # where it ends
        if np.isfinite(q75).any():
            highs.append(float(np.nanmax(q75)))
    ax.set_ylim(y_floor(view), max(highs, default=1.0) + 0.005)
    if log_x:
        ax.set_xscale("log")
        starts = [view["curves"][r["sampler"]][axis]["x"][:1] for r in view["results"]]
        first = [x[0] for x in starts if x and x[0] > 0]
        if first:
            ax.set_xlim(left=0.8 * min(first))
    n_seeds = view["repeats"]
    # The studies' budget (it may have been raised after the comparison was created).
    per_study = view["n_total"] // max(len(view["studies"]), 1)
    ax.set_title(
        f"{view['name']}: best-so-far {view['objective']}\n"
        f"median and IQR over {n_seeds} seeds, {per_study} trials per study",
        fontsize=10,
    )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"best {view['objective']} so far")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title="sampler: median best", title_fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def ranking_table(view: dict[str, Any]) -> str:
    rows = [
        "| rank | sampler | median best val acc [q25, q75] | best per seed | "
        "winner's test acc after --final (mean ± sd) |",
        "|---|---|---|---|---|",
    ]
    for r in view["results"]:
        per_seed = " ".join(f"{v:.4f}" for v in r["best_values"])
        if r["test_metric"] is None:
            test = "-"
        else:
            sd = r["test_metric_sd"]
            test = f"{r['test_metric']:.4f}" + (f" ± {sd:.4f}" if sd is not None else "")
        rows.append(
            f"| {r['rank']} | {r['sampler']} | {r['median_best']:.4f} "
            f"[{r['q25_best']:.4f}, {r['q75_best']:.4f}] | {per_seed} | {test} |"
        )
    return "\n".join(rows)


def budget_table(view: dict[str, Any], trials: dict[str, Any]) -> str:
    rows = [
        "| sampler | trials | completed (12 epochs) | pruned | failed | epochs trained | "
        "training s (sum) | median s per trial |",
        "|---|---|---|---|---|---|---|---|",
    ]
    epochs_total = view["task"]["epochs"]
    rows[0] = rows[0].replace("12 epochs", f"{epochs_total} epochs")
    for name in view["samplers"]:
        items = [
            t
            for s in view["studies"]
            if s["sampler"] == name
            for t in trials[str(s["id"])]["items"]
        ]
        states = [t["state"] for t in items]
        epochs = sum(int(t.get("last_step") or 0) for t in items)
        secs = [_duration(t) for t in items]
        rows.append(
            f"| {name} | {len(items)} | {states.count('completed')} | {states.count('pruned')} "
            f"| {states.count('failed')} | {epochs} | {sum(secs):.0f} | "
            f"{statistics.median(secs):.1f} |"
        )
    return "\n".join(rows)


def equal_time_table(view: dict[str, Any], trials: dict[str, Any], seconds: list[float]) -> str:
    """Each sampler's median best-so-far once each study had spent the same training seconds
    (the by-time curve read at x; a study already over holds its final best)."""
    head = " | ".join(f"at {x:g} s" for x in seconds)
    rows = [
        f"| sampler | training s per study when over (median) | {head} |",
        "|---|---|" + "---|" * len(seconds),
    ]
    for r in view["results"]:
        curve = view["curves"][r["sampler"]]["by_time"]
        cells = []
        for x in seconds:
            i = bisect.bisect_right(curve["x"], x) - 1
            value = curve["median"][i] if i >= 0 else None
            cells.append("-" if value is None else f"{value:.4f}")
        spent = [
            sum(_duration(t) for t in trials[str(s["id"])]["items"])
            for s in view["studies"]
            if s["sampler"] == r["sampler"]
        ]
        rows.append(
            f"| {r['sampler']} | {statistics.median(spent):.0f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(rows)


def _duration(trial: dict[str, Any]) -> float:
    from datetime import datetime

    start = datetime.fromisoformat(trial["started_at"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(trial["finished_at"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def winners_table(view: dict[str, Any], trials: dict[str, Any]) -> str:
    maximize = view["direction"] == "maximize"
    rows: list[str] = []
    for name in view["samplers"]:
        done = [
            (s, t)
            for s in view["studies"]
            if s["sampler"] == name
            for t in trials[str(s["id"])]["items"]
            if t["state"] == "completed" and t["value"] is not None
        ]
        if not done:
            continue
        study, best = (max if maximize else min)(done, key=lambda st: st[1]["value"])
        params = ", ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        rows.append(
            f"| {name} | {study['seed']} | {best['number']} | {best['value']:.4f} | {params} |"
        )
    head = "| sampler | seed | trial | val acc | params |\n|---|---|---|---|---|"
    return head + "\n" + "\n".join(rows)


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path, help="holds comparison.json and trials.json")
    parser.add_argument("--figures", type=Path, default=Path("bench/figures"))
    parser.add_argument("--prefix", default="cnn-mnist1d-comparison")
    parser.add_argument(
        "--at",
        type=lambda text: [float(x) for x in text.split(",")],
        default=[50.0, 100.0, 200.0],
        help="training seconds per study at which to compare the samplers (comma-separated)",
    )
    args = parser.parse_args()
    view = json.loads((args.dir / "comparison.json").read_text())
    trials = json.loads((args.dir / "trials.json").read_text())
    by_trial = args.figures / f"{args.prefix}-by-trial.png"
    by_time = args.figures / f"{args.prefix}-by-time.png"
    plot(view, "by_trial", by_trial, "trials finished (completed or pruned)", log_x=False)
    plot(
        view,
        "by_time",
        by_time,
        "training seconds spent per study (its trials' summed wall-clock durations)",
        log_x=True,
    )
    print(f"wrote {by_trial} and {by_time}\n")
    print(ranking_table(view) + "\n")
    print(budget_table(view, trials) + "\n")
    print(equal_time_table(view, trials, args.at) + "\n")
    print(winners_table(view, trials))


if __name__ == "__main__":
    main()
