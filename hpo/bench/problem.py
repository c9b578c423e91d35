"""A benchmark problem (`Problem`) and the helpers that build one from a function on vectors
over a box: shared by functions.py (the suites) and mixed.py (the mixed variants)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo.bench.classic import Vector

Params = Mapping[str, Any]
SpaceSpec = dict[str, dict[str, Any]]

ORIGINAL = "original"
ADDED = "added"
SUITES = (ORIGINAL, ADDED)


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: minimize `fn` over `space`; `optimum` is the global minimum value
    and `argmin` one point that attains it. `suite` says whether it was in the first benchmark
    (`original`) or added with issue 19 (`added`); `source` cites its definition.
    `noise_sd` > 0: the sampler sees `fn` plus Gaussian noise of this sd (`noise.py`)."""

    name: str
    space: SpaceSpec
    fn: Callable[[Params], float]
    optimum: float
    argmin: Params
    suite: str = ORIGINAL
    source: str = ""
    noise_sd: float = 0.0

    @property
    def dim(self) -> int:
        return len(self.space)

    @property
    def kinds(self) -> str:
        """The parameter types it has, e.g. 'float' or 'float+int+categorical'."""
        order = ("float", "int", "categorical")
        present = {dom["type"] for dom in self.space.values()}
        return "+".join(k for k in order if k in present)

    def regret(self, value: float) -> float:
        """Simple regret of `value`, never negative (a value a rounding error below the
        optimum counts as exact)."""
        return max(value - self.optimum, 0.0)


def names(dim: int) -> list[str]:
    return [f"x{i}" for i in range(dim)]


def box(bounds: Sequence[tuple[float, float]]) -> SpaceSpec:
    return {
        name: {"type": "float", "low": float(lo), "high": float(hi)}
        for name, (lo, hi) in zip(names(len(bounds)), bounds, strict=True)
    }


def vector_fn(f: Callable[[Vector], float], dim: int) -> Callable[[Params], float]:
    keys = names(dim)

    def fn(params: Params) -> float:
        return f(np.array([float(params[k]) for k in keys], dtype=np.float64))

    return fn


def vector_problem(
    name: str,
    f: Callable[[Vector], float],
    bounds: Sequence[tuple[float, float]],
    optimum: float,
    argmin: Sequence[float],
    suite: str = ORIGINAL,
    source: str = "",
) -> Problem:
    keys = names(len(bounds))
    return Problem(
        name,
        box(bounds),
        vector_fn(f, len(bounds)),
        optimum,
        dict(zip(keys, argmin, strict=True)),
        suite,
        source,
    )
