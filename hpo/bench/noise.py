"""The noise mode: a problem's range over its domain (what the noise sd is a fraction of) and
the noisy objective a sampler sees.

The range is estimated once per problem from a fixed sample: 4096 points drawn uniformly over
the space with numpy's default generator seeded 0 (log floats uniformly in log space, ints and
categoricals uniformly over their values), plus the known optimum; range = max - min of the
function over them. A sample underestimates the maximum (Rosenbrock's and Goldstein-Price's
ranges are set by narrow corners), which is the intent: the noise is scaled to the values a
sampler meets, not to an extreme corner.

The noise is seeded by the run's seed alone, so every sampler on one seed meets the same noise
sequence (the i-th evaluation gets the i-th draw), whatever points it asks for.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpo.bench.problem import Params, Problem, SpaceSpec

RANGE_SAMPLE = 4096
RANGE_SEED = 0


def sample_space(space: SpaceSpec, n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """n points drawn uniformly over `space` (log floats uniform in log10)."""
    columns: dict[str, list[Any]] = {}
    for name, dom in space.items():
        if dom["type"] == "categorical":
            idx = rng.integers(0, len(dom["choices"]), size=n)
            columns[name] = [dom["choices"][i] for i in idx]
        elif dom["type"] == "int":
            columns[name] = [int(v) for v in rng.integers(dom["low"], dom["high"] + 1, size=n)]
        elif dom.get("log"):
            lo, hi = math.log10(dom["low"]), math.log10(dom["high"])
            columns[name] = [float(10.0**v) for v in rng.uniform(lo, hi, size=n)]
        else:
            columns[name] = [float(v) for v in rng.uniform(dom["low"], dom["high"], size=n)]
    return [{name: col[i] for name, col in columns.items()} for i in range(n)]


def value_range(problem: Problem) -> float:
    """max - min of the function over the fixed sample (and the optimum)."""
    rng = np.random.default_rng(RANGE_SEED)
    values = [problem.fn(p) for p in sample_space(problem.space, RANGE_SAMPLE, rng)]
    return max(values) - min(min(values), problem.optimum)


class NoisyObjective:
    """`problem.fn` plus N(0, problem.noise_sd^2) noise; `true_values` records the noiseless
    values in evaluation order (what regret is measured on)."""

    def __init__(self, problem: Problem, seed: int) -> None:
        self.problem = problem
        # A stream of its own (not the sampler's seed's): the noise never follows the sampler.
        self._rng = np.random.default_rng([RANGE_SEED + 1, seed])
        self.true_values: list[float] = []

    def __call__(self, params: Params) -> float:
        value = self.problem.fn(params)
        self.true_values.append(value)
        return value + float(self._rng.normal(0.0, self.problem.noise_sd))
