from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from hpo.bench import classic
from hpo.bench.functions import (
    ADDED,
    MICHALEWICZ_OPTIMUM,
    MICHALEWICZ_XSTAR,
    ORIGINAL,
    PROBLEMS,
    get_problem,
    problems_of,
)
from hpo.bench.noise import NoisyObjective, value_range
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
# Issue 19's families, each at least once; the numbered ones at d = 2, 5 and 10.
ADDED_FUNCTIONS = [
    "sixhumpcamel",
    "shekel5",
    "shekel7",
    "shekel10",
    "shubert",
    *(f"{f}{d}" for f in ("michalewicz", "rastrigin", "griewank", "zakharov") for d in (2, 5, 10)),
    *(f"{f}{d}" for f in ("ackley", "levy", "rosenbrock", "styblinski") for d in (2, 10)),
    "rosenbrock5",
    "ackley5_int",
    "styblinski5_int",
    "levy5_cat",
]


def test_every_function_of_the_issue_is_there_with_a_mixed_problem() -> None:
    assert set(ISSUE_FUNCTIONS) <= set(PROBLEMS)
    types = {dom["type"] for dom in PROBLEMS["mixed"].space.values()}
    assert {"float", "int", "categorical"} <= types


def test_the_original_nine_keep_their_suite_and_every_added_one_is_marked() -> None:
    assert set(problems_of(ORIGINAL)) == {*ISSUE_FUNCTIONS, "mixed"}
    assert set(problems_of(ADDED)) == set(ADDED_FUNCTIONS)
    assert problems_of("all") == tuple(PROBLEMS)
    assert all(PROBLEMS[n].source for n in PROBLEMS)  # every one cites its definition
    with pytest.raises(ValidationError, match="original"):
        problems_of("nope")


def test_the_mixed_variants_have_the_types_they_say() -> None:
    assert PROBLEMS["ackley5_int"].kinds == "float+int"
    assert PROBLEMS["styblinski5_int"].kinds == "float+int"
    assert PROBLEMS["levy5_cat"].kinds == "float+categorical"


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
            assert isinstance(p.argmin[key], int)
            centre[key] = round(centre[key])
    assert p.fn(centre) - p.optimum > 1e-3


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_no_local_descent_from_argmin_goes_below_the_optimum(name: str) -> None:
    # The optimum must be exact to double precision, or regrets could not reach the 1e-12
    # floor. Ints and categoricals stay at the minimizer's; the floats descend.
    p = PROBLEMS[name]
    keys = [k for k, dom in p.space.items() if dom["type"] == "float"]
    bounds = [(p.space[k]["low"], p.space[k]["high"]) for k in keys]

    def f(x: np.ndarray) -> float:
        return p.fn({**p.argmin, **dict(zip(keys, x, strict=True))})

    x0 = np.array([p.argmin[k] for k in keys], dtype=float)
    result = minimize(f, x0, method="L-BFGS-B", bounds=bounds, options={"ftol": 1e-15})
    assert result.fun >= p.optimum - 1e-12


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_no_point_of_a_random_sample_beats_the_optimum(name: str) -> None:
    p = PROBLEMS[name]
    rng = np.random.default_rng(1)
    from hpo.bench.noise import sample_space

    assert min(p.fn(x) for x in sample_space(p.space, 2000, rng)) > p.optimum


@pytest.mark.parametrize(
    ("name", "point", "value", "tol"),
    [
        ("branin", {"x0": -math.pi, "x1": 12.275}, 0.397887357729738, 1e-9),
        ("branin", {"x0": 9.42478, "x1": 2.475}, 0.397887, 1e-6),
        ("goldstein2", {"x0": 0.0, "x1": 0.0}, 600.0, 1e-9),
        ("rosenbrock4", {f"x{i}": 0.0 for i in range(4)}, 3.0, 1e-12),
        # Dixon & Szegö / Surjanovic & Bingham's four- to six-digit minimizers and values.
        ("sixhumpcamel", {"x0": -0.0898, "x1": 0.7126}, -1.0316, 1e-4),
        ("shekel5", {f"x{i}": 4.0 for i in range(4)}, -10.1532, 1e-4),
        ("shekel7", {f"x{i}": 4.0 for i in range(4)}, -10.4029, 1e-3),
        ("shekel10", {f"x{i}": 4.0 for i in range(4)}, -10.5364, 1e-3),
        ("shubert", {"x0": -7.0835, "x1": 4.8580}, -186.7309, 1e-3),
        ("michalewicz2", {"x0": 2.20, "x1": 1.57}, -1.8013, 1e-3),
        ("hartmann3", {"x0": 0.114614, "x1": 0.555649, "x2": 0.852547}, -3.86278, 1e-5),
        ("rastrigin2", {"x0": 1.0, "x1": 0.0}, 1.0, 1e-12),
        ("griewank2", {"x0": 0.0, "x1": 0.0}, 0.0, 1e-12),
        ("zakharov2", {"x0": 1.0, "x1": 1.0}, 2 + 1.5**2 + 1.5**4, 1e-12),
    ],
)
def test_published_values(name: str, point: dict[str, float], value: float, tol: float) -> None:
    assert get_problem(name).fn(point) == pytest.approx(value, abs=tol)


@pytest.mark.parametrize(("d", "published", "digits"), [(5, -4.687658, 1e-6), (10, -9.66015, 1e-5)])
def test_michalewicz_optimum_matches_the_published_value(
    d: int, published: float, digits: float
) -> None:
    # Known only numerically: the published values have 7 and 6 digits; ours is the sum of the
    # per-coordinate minima (the function is separable), which must round to them.
    assert MICHALEWICZ_OPTIMUM[d] == pytest.approx(published, abs=digits)
    assert PROBLEMS[f"michalewicz{d}"].optimum == MICHALEWICZ_OPTIMUM[d]


@pytest.mark.parametrize("i", range(1, 11))
def test_no_point_of_a_dense_grid_beats_each_michalewicz_coordinate(i: int) -> None:
    # Separable: the global minimum is the sum of each coordinate's 1-D minimum, so a dense
    # 1-D grid per coordinate checks the whole optimum (a d-D sample could not be dense).
    grid = np.linspace(0.0, math.pi, 400_001)
    terms = -np.sin(grid) * np.sin(i * grid**2 / math.pi) ** 20
    assert terms.min() >= classic.michalewicz_term(MICHALEWICZ_XSTAR[i - 1], i) - 1e-12


def test_styblinski_int_optimum_is_the_best_integer_point() -> None:
    def st(t: float) -> float:
        return 0.5 * (t**4 - 16 * t**2 + 5 * t)

    best_int = min(st(k) for k in range(-5, 6))
    p = PROBLEMS["styblinski5_int"]
    assert p.optimum == pytest.approx(3 * best_int + 2 * classic.ST_F, abs=1e-12)


def test_levy_cat_only_mode_b_reaches_zero() -> None:
    p = PROBLEMS["levy5_cat"]
    shifts = {"a": 0.0, "b": 2.0, "c": -3.0, "d": 4.0}
    best = {
        mode: p.fn({**{f"x{i}": 1.0 + s for i in range(5)}, "mode": mode})
        for mode, s in shifts.items()
    }
    assert best == pytest.approx({"a": 0.5, "b": 0.0, "c": 1.0, "d": 2.0}, abs=1e-12)


def test_ackley_int_grid_has_no_better_integer_corner() -> None:
    p = PROBLEMS["ackley5_int"]
    values = [
        p.fn({"x0": a, "x1": b, "x2": 0.0, "x3": 0.0, "x4": 0.0})
        for a, b in itertools.product(range(-5, 11), repeat=2)
    ]
    assert min(values) == pytest.approx(0.0, abs=1e-12)


def test_regret_is_never_negative() -> None:
    p = PROBLEMS["branin"]
    assert p.regret(p.optimum - 1e-15) == 0.0
    assert p.regret(p.optimum + 0.5) == pytest.approx(0.5)


def test_unknown_function_names_the_choices() -> None:
    with pytest.raises(ValidationError, match="branin"):
        get_problem("nope")


def test_a_noisy_variant_has_the_noiseless_optimum_and_a_fixed_sd() -> None:
    noisy = get_problem("branin+noise0.1")
    base = PROBLEMS["branin"]
    assert noisy.optimum == base.optimum and noisy.space == base.space
    assert noisy.noise_sd == pytest.approx(0.1 * value_range(base))
    assert get_problem("branin+noise0.1").noise_sd == noisy.noise_sd  # the same sample
    # Branin's values over its box run from 0.398 to ~308: the sampled range comes close.
    assert 250 < value_range(base) < 310
    with pytest.raises(ValidationError, match="positive"):
        get_problem("branin+noise0")


def test_the_noise_is_seeded_by_the_run_and_regret_uses_the_noiseless_values() -> None:
    p = get_problem("hartmann3+noise0.1")
    point = dict(p.argmin)
    a, b, other = NoisyObjective(p, 3), NoisyObjective(p, 3), NoisyObjective(p, 4)
    seen = [a(point) for _ in range(50)]
    assert seen == [b(point) for _ in range(50)]
    assert seen != [other(point) for _ in range(50)]
    # The optimum is stored rounded; the function at argmin differs in the last ulp.
    assert a.true_values == pytest.approx([p.optimum] * 50, rel=1e-12)
    assert np.std(np.array(seen) - p.optimum) == pytest.approx(p.noise_sd, rel=0.3)
