"""Mixed integer/categorical variants of the classic functions (issue 19's `added` suite).

How each is built (the original `mixed` problem, in functions.py, is the fourth such problem):

- `ackley5_int`: Ackley in 5-D on [-5, 10]^5 (as `ackley5`) with x0, x1 integers. The
  minimizer (the origin) is an integer point, so the optimum stays 0.
- `styblinski5_int`: Styblinski-Tang in 5-D on [-5, 5]^5 with x0, x1, x2 integers. The
  continuous minimizer (-2.9035 per coordinate) is not an integer: the integer coordinates'
  best value is -3 (f_1(-3) = -39 against -39.166 at -2.9035), so the optimum is
  3 * (-39) + 2 * (-39.16616570377142); a sampler must round in the right direction.
- `levy5_cat`: Levy in 5-D on [-10, 10]^5 and a categorical `mode` in {a, b, c, d} that
  shifts every coordinate's minimizer (by 0, 2, -3, 4) and adds an offset (0.5, 0, 1, 2):
  f = levy(x - shift[mode]) + offset[mode]. Only mode b reaches 0, at x = (3, ..., 3), and
  the best x depends on the mode, so the categorical cannot be settled apart from the floats.
"""

from __future__ import annotations

import numpy as np

from hpo.bench import classic as c
from hpo.bench.classic import ST_F, ST_X
from hpo.bench.problem import ADDED, Params, Problem, SpaceSpec, box, names, vector_fn

_SB = "Surjanovic & Bingham (the base function); the variant: hpo/bench/mixed.py"


def _with_ints(space: SpaceSpec, keys: list[str]) -> None:
    for k in keys:
        dom = space[k]
        space[k] = {"type": "int", "low": round(dom["low"]), "high": round(dom["high"])}


def _ackley5_int() -> Problem:
    space = box([(-5, 10)] * 5)
    _with_ints(space, ["x0", "x1"])
    argmin: dict[str, float | int] = {k: 0.0 for k in names(5)}
    argmin.update(x0=0, x1=0)
    return Problem("ackley5_int", space, vector_fn(c.ackley, 5), 0.0, argmin, ADDED, _SB)


_ST_INT_F = 0.5 * ((-3.0) ** 4 - 16 * (-3.0) ** 2 + 5 * (-3.0))  # -39.0


def _styblinski5_int() -> Problem:
    space = box([(-5, 5)] * 5)
    _with_ints(space, ["x0", "x1", "x2"])
    argmin: dict[str, float | int] = {"x0": -3, "x1": -3, "x2": -3, "x3": ST_X, "x4": ST_X}
    optimum = 3 * _ST_INT_F + 2 * ST_F
    return Problem(
        "styblinski5_int", space, vector_fn(c.styblinski_tang, 5), optimum, argmin, ADDED, _SB
    )


LEVY_CAT_SHIFT = {"a": 0.0, "b": 2.0, "c": -3.0, "d": 4.0}
LEVY_CAT_OFFSET = {"a": 0.5, "b": 0.0, "c": 1.0, "d": 2.0}


def levy5_cat(params: Params) -> float:
    mode = str(params["mode"])
    x = np.array([float(params[k]) for k in names(5)], dtype=np.float64)
    return c.levy(x - LEVY_CAT_SHIFT[mode]) + LEVY_CAT_OFFSET[mode]


def _levy5_cat() -> Problem:
    space = box([(-10, 10)] * 5)
    space["mode"] = {"type": "categorical", "choices": list(LEVY_CAT_SHIFT)}
    argmin: dict[str, float | str] = {k: 3.0 for k in names(5)}
    argmin["mode"] = "b"
    return Problem("levy5_cat", space, levy5_cat, 0.0, argmin, ADDED, _SB)


def mixed_problems() -> list[Problem]:
    return [_ackley5_int(), _styblinski5_int(), _levy5_cat()]
