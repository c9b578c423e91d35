from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from hpo.bench.functions import PROBLEMS, get_problem
from hpo.errors import ValidationError

pytestmark = pytest.mark.unit

ISSUE_FUNCTIONS = [
    "branin",
    "hartmann3",
    "hartmann6",
    "rosenbrock4",
    "styblinski5",
    "ackley5",
    "levy5",
    "goldstein2",
]


def test_every_function_of_the_issue_is_there_with_a_mixed_problem() -> None:
    assert set(ISSUE_FUNCTIONS) <= set(PROBLEMS)
    types = {dom["type"] for dom in PROBLEMS["mixed"].space.values()}
    assert {"float", "int", "categorical"} <= types


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_known_optimum_is_attained_at_argmin(name: str) -> None:
    p = PROBLEMS[name]
    assert p.fn(p.argmin) == pytest.approx(p.optimum, abs=1e-12)


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_argmin_lies_in_the_box_and_the_centre_is_not_optimal(name: str) -> None:
    p = PROBLEMS[name]
    centre = {}
    for key, dom in p.space.items():
        if dom["type"] == "categorical":
            assert p.argmin[key] in dom["choices"]
            centre[key] = dom["choices"][0]
            continue
        assert dom["low"] <= p.argmin[key] <= dom["high"]
        centre[key] = (dom["low"] + dom["high"]) / 2
        if dom["type"] == "int":
            centre[key] = round(centre[key])
    assert p.fn(centre) - p.optimum > 1e-3


@pytest.mark.parametrize("name", ISSUE_FUNCTIONS)
def test_no_local_descent_from_argmin_goes_below_the_optimum(name: str) -> None:
    # The optimum must be exact to double precision, or regrets could not reach the 1e-12 floor.
    p = PROBLEMS[name]
    keys = list(p.space)
    bounds = [(p.space[k]["low"], p.space[k]["high"]) for k in keys]

    def f(x: np.ndarray) -> float:
        return p.fn(dict(zip(keys, x, strict=True)))

    x0 = np.array([p.argmin[k] for k in keys], dtype=float)
    result = minimize(f, x0, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15})
    assert result.fun >= p.optimum - 1e-12


@pytest.mark.parametrize(
    ("name", "point", "value"),
    [
        ("branin", {"x0": -math.pi, "x1": 12.275}, 0.397887357729738),
        ("branin", {"x0": 9.42478, "x1": 2.475}, 0.397887),
        ("goldstein2", {"x0": 0.0, "x1": 0.0}, 600.0),
        ("rosenbrock4", {f"x{i}": 0.0 for i in range(4)}, 3.0),
    ],
)
def test_published_values(name: str, point: dict[str, float], value: float) -> None:
    assert get_problem(name).fn(point) == pytest.approx(value, rel=1e-5)


def test_regret_is_never_negative() -> None:
    p = PROBLEMS["branin"]
    assert p.regret(p.optimum - 1e-15) == 0.0
    assert p.regret(p.optimum + 0.5) == pytest.approx(0.5)


def test_unknown_function_names_the_choices() -> None:
    with pytest.raises(ValidationError, match="branin"):
        get_problem("nope")
