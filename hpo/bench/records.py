"""What a benchmark run leaves and how it is scored: one run's values (`RunRecord`), a
sampler x function x budget summary (`Cell`) and log10 regret. Shared by harness.py (runs and
summaries) and report.py (tables), neither of which the other needs for its types.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

REGRET_FLOOR = -12.0
"""log10 regret is floored here: a regret <= 1e-12 reads -12 (the limit of a double near f*)."""


def log10_regret(best: float, optimum: float) -> float:
    """log10 of the simple regret `best - optimum`, floored at REGRET_FLOOR; inf when no
    evaluation has succeeded yet (best is inf or NaN)."""
    if math.isnan(best) or math.isinf(best):
        return math.inf
    regret = best - optimum
    if regret <= 10.0**REGRET_FLOOR:
        return REGRET_FLOOR
    return max(math.log10(regret), REGRET_FLOOR)


def best_so_far(values: Sequence[float]) -> list[float]:
    """Running minimum; a failed (NaN) evaluation does not improve it."""
    out: list[float] = []
    best = math.inf
    for v in values:
        if not math.isnan(v) and v < best:
            best = v
        out.append(best)
    return out


def regret_curve(values: Sequence[float], optimum: float) -> list[float]:
    return [log10_regret(b, optimum) for b in best_so_far(values)]


@dataclass(frozen=True)
class RunRecord:
    sampler: str
    function: str
    seed: int
    values: list[float]
    seconds: float


@dataclass(frozen=True)
class Cell:
    """Median and quartiles of log10 regret over seeds, for one sampler x function x budget."""

    median: float
    q25: float
    q75: float
    n_seeds: int
