"""The benchmark's Markdown: regret tables per budget, wall-clock per run, the scale check."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hpo.bench.functions import get_problem
from hpo.bench.records import Cell, RunRecord, regret_curve


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.2f}"


def markdown_table(summary: dict[int, dict[str, dict[str, Cell]]]) -> str:
    """One table per budget: rows are functions, columns samplers, cells `median [q25, q75]`
    of log10 regret (lower is better; the best median in a row is bold)."""
    parts: list[str] = []
    for budget, by_fn in summary.items():
        samplers = list(dict.fromkeys(s for cells in by_fn.values() for s in cells))
        parts.append(f"**{budget} evaluations** — median log10 regret [IQR] over seeds\n")
        parts.append("| function | " + " | ".join(samplers) + " |")
        parts.append("|---|" + "---|" * len(samplers))
        n_max = max((c.n_seeds for cells in by_fn.values() for c in cells.values()), default=0)
        for fn, cells in by_fn.items():
            best = min((c.median for c in cells.values()), default=math.inf)
            row = []
            for s in samplers:
                c = cells.get(s)
                if c is None:
                    row.append("—")
                    continue
                text = f"{_fmt(c.median)} [{_fmt(c.q25)}, {_fmt(c.q75)}]"
                if c.n_seeds != n_max:
                    text += f" (n={c.n_seeds})"
                row.append(f"**{text}**" if c.median == best else text)
            parts.append(f"| {fn} | " + " | ".join(row) + " |")
        parts.append(f"\n{n_max} seeds per cell unless marked (n=...)\n")
    return "\n".join(parts)


def timing_table(records: Sequence[RunRecord]) -> str:
    """Median wall-clock seconds per run (all evaluations of one seed) for each sampler."""
    samplers = list(dict.fromkeys(r.sampler for r in records))
    lines = ["| sampler | runs | median s/run | max s/run |", "|---|---|---|---|"]
    for s in samplers:
        secs = [r.seconds for r in records if r.sampler == s]
        lines.append(f"| {s} | {len(secs)} | {np.median(secs):.1f} | {max(secs):.1f} |")
    return "\n".join(lines)


def scale_table(records: Sequence[RunRecord], budget: int) -> str:
    """For each scaled column (`name@factor`), its median log10 regret at `budget` beside the
    unscaled sampler's on the same seeds, and how many runs gave the very same trace (a
    sampler that standardizes the objective is exactly invariant up to rounding)."""
    by_key = {(r.sampler, r.function, r.seed): r for r in records}
    scaled = [s for s in dict.fromkeys(r.sampler for r in records) if "@" in s]
    if not scaled:
        return ""
    lines = [
        f"| function | column | median at {budget} | unscaled, same seeds | identical traces |",
        "|---|---|---|---|---|",
    ]
    for label in scaled:
        base = label.partition("@")[0]
        for fn in dict.fromkeys(r.function for r in records):
            pairs = [
                (r, by_key[(base, fn, r.seed)])
                for r in records
                if r.sampler == label and r.function == fn and (base, fn, r.seed) in by_key
            ]
            pairs = [(a, b) for a, b in pairs if min(len(a.values), len(b.values)) >= budget]
            if not pairs:
                continue
            opt = get_problem(fn).optimum
            med_a = np.median([regret_curve(a.values[:budget], opt)[-1] for a, _ in pairs])
            med_b = np.median([regret_curve(b.values[:budget], opt)[-1] for _, b in pairs])
            same = sum(
                np.allclose(a.values[:budget], b.values[:budget], rtol=1e-9, equal_nan=True)
                for a, b in pairs
            )
            lines.append(f"| {fn} | {label} | {med_a:.2f} | {med_b:.2f} | {same}/{len(pairs)} |")
    return "\n".join(lines)
