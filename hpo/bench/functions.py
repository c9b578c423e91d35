"""Analytic test functions with known global minima, in hpo's search-space format.

Every problem is a minimization over a box whose centre is not the optimum (a sampler that starts
at the centre gains nothing). `Problem.fn` takes a params dict, as `hpo.optimize` passes it;
`Problem.optimum` is the global minimum value, refined to double precision with a local optimizer
from the published minimizer (the published four-digit minimizers of Hartmann3/6 are off by ~1e-6
in value, which would floor every regret at log10 ~ -6), so simple regret can reach 1e-12.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hpo.errors import ValidationError

Vector = npt.NDArray[np.float64]
Params = Mapping[str, Any]
SpaceSpec = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: minimize `fn` over `space`; `optimum` is the global minimum value
    and `argmin` one point that attains it."""

    name: str
    space: SpaceSpec
    fn: Callable[[Params], float]
    optimum: float
    argmin: Params

    @property
    def dim(self) -> int:
        return len(self.space)

    def regret(self, value: float) -> float:
        """Simple regret of `value`, never negative (a value a rounding error below the
        optimum counts as exact)."""
        return max(value - self.optimum, 0.0)


def _names(dim: int) -> list[str]:
    return [f"x{i}" for i in range(dim)]


def _box(bounds: Sequence[tuple[float, float]]) -> SpaceSpec:
    return {
        name: {"type": "float", "low": float(lo), "high": float(hi)}
        for name, (lo, hi) in zip(_names(len(bounds)), bounds, strict=True)
    }


def _vector_problem(
    name: str,
    f: Callable[[Vector], float],
    bounds: Sequence[tuple[float, float]],
    optimum: float,
    argmin: Sequence[float],
) -> Problem:
    keys = _names(len(bounds))

    def fn(params: Params) -> float:
        return f(np.array([float(params[k]) for k in keys], dtype=np.float64))

    return Problem(name, _box(bounds), fn, optimum, dict(zip(keys, argmin, strict=True)))


# ---- the functions, on vectors ------------------------------------------------------------


def branin(x: Vector) -> float:
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5.0 / math.pi
    r, s, t = 6.0, 10.0, 1.0 / (8 * math.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * np.cos(x[0]) + s)


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann3(x: Vector) -> float:
    return -float(_H_ALPHA @ np.exp(-np.sum(_H3_A * (x - _H3_P) ** 2, axis=1)))


def hartmann6(x: Vector) -> float:
    return -float(_H_ALPHA @ np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)))


def rosenbrock(x: Vector) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def styblinski_tang(x: Vector) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def ackley(x: Vector) -> float:
    d = len(x)
    s1 = math.sqrt(float(np.sum(x**2)) / d)
    s2 = float(np.sum(np.cos(2 * math.pi * x))) / d
    return -20.0 * math.exp(-0.2 * s1) - math.exp(s2) + 20.0 + math.e


def levy(x: Vector) -> float:
    w = 1.0 + (x - 1.0) / 4.0
    head = math.sin(math.pi * w[0]) ** 2
    body = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2))
    tail = (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    return float(head + body + tail)


def goldstein_price(x: Vector) -> float:
    x1, x2 = float(x[0]), float(x[1])
    a = 1 + (x1 + x2 + 1) ** 2 * (19 - 14 * x1 + 3 * x1**2 - 14 * x2 + 6 * x1 * x2 + 3 * x2**2)
    b = 30 + (2 * x1 - 3 * x2) ** 2 * (
        18 - 32 * x1 + 12 * x1**2 + 48 * x2 - 36 * x1 * x2 + 27 * x2**2
    )
    return a * b


# Styblinski-Tang's 1-D minimizer: the smallest root of 4x^3 - 32x + 5 = 0.
_ST_X = -2.903534027771177
_ST_F = 0.5 * (_ST_X**4 - 16 * _ST_X**2 + 5 * _ST_X)


# ---- a mixed problem: float (one log-scaled), int and categorical ---------------------------

# Per-activation weight on the continuous part and additive offset: only "gelu" reaches 0.
_MIXED_WEIGHT = {"relu": 1.0, "tanh": 1.5, "gelu": 1.0, "sigmoid": 0.5}
_MIXED_OFFSET = {"relu": 0.5, "tanh": 1.0, "gelu": 0.0, "sigmoid": 2.0}
_MIXED_SPACE: SpaceSpec = {
    "x0": {"type": "float", "low": -5.0, "high": 10.0},
    "x1": {"type": "float", "low": 0.0, "high": 15.0},
    "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    "depth": {"type": "int", "low": 1, "high": 12},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu", "sigmoid"]},
}


def mixed(params: Params) -> float:
    """A tuning-shaped problem: Branin in (x0, x1), a log-scale bowl in lr (best at 10^-2.5),
    a quadratic in the integer depth (best at 9) and a categorical that scales and shifts it."""
    act = str(params["activation"])
    cont = branin(np.array([float(params["x0"]), float(params["x1"])])) - 5.0 / (4 * math.pi)
    cont += (math.log10(float(params["lr"])) + 2.5) ** 2
    return _MIXED_WEIGHT[act] * cont + 0.1 * (int(params["depth"]) - 9) ** 2 + _MIXED_OFFSET[act]


def _make_problems() -> dict[str, Problem]:
    problems = [
        _vector_problem(
            "branin", branin, [(-5, 10), (0, 15)], 5.0 / (4 * math.pi), [math.pi, 2.275]
        ),
        _vector_problem(
            "hartmann3",
            hartmann3,
            [(0, 1)] * 3,
            -3.862779787332663,
            [0.1145888794692833, 0.5556488953859497, 0.85254698581171],
        ),
        _vector_problem(
            "hartmann6",
            hartmann6,
            [(0, 1)] * 6,
            -3.3223680114155147,
            [
                0.20168951187114326,
                0.1500106877127264,
                0.4768739762240153,
                0.2753324293081809,
                0.3116516161448476,
                0.6573005334338057,
            ],
        ),
        _vector_problem("rosenbrock4", rosenbrock, [(-5, 10)] * 4, 0.0, [1.0] * 4),
        _vector_problem("styblinski5", styblinski_tang, [(-5, 5)] * 5, 5 * _ST_F, [_ST_X] * 5),
        _vector_problem("ackley5", ackley, [(-5, 10)] * 5, 0.0, [0.0] * 5),
        _vector_problem("levy5", levy, [(-10, 10)] * 5, 0.0, [1.0] * 5),
        _vector_problem("goldstein2", goldstein_price, [(-2, 2)] * 2, 3.0, [0.0, -1.0]),
        Problem(
            "mixed",
            _MIXED_SPACE,
            mixed,
            0.0,
            {"x0": math.pi, "x1": 2.275, "lr": 10**-2.5, "depth": 9, "activation": "gelu"},
        ),
    ]
    return {p.name: p for p in problems}


PROBLEMS: Mapping[str, Problem] = _make_problems()
"""Every benchmark problem by name (a read-only constant, built once)."""


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        known = ", ".join(PROBLEMS)
        raise ValidationError(
            f"unknown benchmark function {name!r}; choose from: {known}"
        ) from None
