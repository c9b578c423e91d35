"""LIPO: the fitted upper bound, the local model, and the sampler's behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpo.optimize import optimize
from hpo.samplers import Observation, ObservationState
from hpo.samplers.lipo import LipoSampler
from hpo.samplers.lipo._bound import Points, fit_upper_bound
from hpo.samplers.lipo._quadratic import fit_quadratic, solve_trust_region
from hpo.space import Params, SearchSpace

pytestmark = pytest.mark.unit


def _points(x: np.ndarray, cat: np.ndarray | None = None, choices: tuple[int, ...] = ()) -> Points:
    n = x.shape[0]
    codes = np.zeros((n, 0), dtype=np.int64) if cat is None else cat.astype(np.int64)
    return Points(x, codes, choices)


def _branin(p: Params) -> float:
    x, y = float(p["x"]), float(p["y"])
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    return a * (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


BRANIN = {
    "x": {"type": "float", "low": -5.0, "high": 10.0},
    "y": {"type": "float", "low": 0.0, "high": 15.0},
}


# -- the bound ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_lies_above_every_observation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.random((60, 3))
    y = np.sin(6 * x[:, 0]) + x[:, 1] ** 2 + 0.05 * rng.standard_normal(60)
    y = (y - y.mean()) / y.std()
    bound = fit_upper_bound(_points(x), y)
    assert np.all(bound(_points(x)) >= y - 1e-6)
    # Between the observations too: the bound holds at every observation from every cone.
    assert np.all(bound.slopes >= 0) and np.all(bound.noise >= 0)


def test_one_dimension_reduces_to_largest_pairwise_slope() -> None:
    # One shared K (one dimension) and no noise needed: K = max (y_i - y_j)^2 / |x_i - x_j|^2.
    rng = np.random.default_rng(3)
    x = rng.random((25, 1))
    y = np.abs(x[:, 0] - 0.4) * 3.0 + x[:, 0] ** 2
    bound = fit_upper_bound(_points(x), y, noise_penalty=1e12)
    dx2 = (x[:, None, 0] - x[None, :, 0]) ** 2
    dy2 = (y[:, None] - y[None, :]) ** 2
    mask = dx2 > 0
    expected = float((dy2[mask] / dx2[mask]).max())
    assert bound.slopes[0] == pytest.approx(expected, rel=1e-4)
    assert np.all(bound.noise <= 1e-6 * expected)


def test_flat_direction_gets_a_small_constant() -> None:
    rng = np.random.default_rng(4)
    x = rng.random((40, 2))
    y = 5.0 * x[:, 0]  # nothing depends on x1
    bound = fit_upper_bound(_points(x), y)
    assert bound.slopes[0] == pytest.approx(25.0, rel=1e-3)
    assert bound.slopes[1] < 1e-3 * bound.slopes[0]


def test_categorical_mismatch_term() -> None:
    # The value depends only on the category: all the slope goes into its mismatch constant.
    rng = np.random.default_rng(5)
    x = rng.random((30, 1))
    cat = rng.integers(0, 3, (30, 1))
    y = np.array([0.0, 1.0, 3.0])[cat[:, 0]]
    bound = fit_upper_bound(_points(x, cat, (3,)), y)
    assert bound.slopes[1] == pytest.approx(9.0, rel=1e-3)  # (3 - 0)^2 across one mismatch
    assert np.all(bound(_points(x, cat, (3,))) >= y - 1e-9)


def test_blocked_pair_scans_match_brute_force() -> None:
    # More points than one block (_BLOCK rows), categorical dims and ties in y included.
    from hpo.samplers.lipo._bound import _all_violations, _most_steep

    rng = np.random.default_rng(9)
    n = 600
    pts = _points(rng.random((n, 3)), rng.integers(0, 3, (n, 1)), (3,))
    y = np.round(rng.standard_normal(n), 1)
    slopes, noise = np.array([0.5, 2.0, 1.0, 0.3]), rng.random(n) * 0.01
    num = ((pts.num[:, None, :] - pts.num[None, :, :]) ** 2) @ slopes[:3]
    dist = num + slopes[3] * (pts.cat[:, None, 0] != pts.cat[None, :, 0])
    gap = y[:, None] - y[None, :]
    res = dist + noise[None, :] - gap**2
    want = {(h, lo) for h, lo in zip(*np.nonzero((gap > 0) & (res < -1e-9)), strict=True)}
    values, pairs = _all_violations(pts, y, slopes, noise, 1e-9)
    assert {(int(h), int(lo)) for h, lo in pairs} == want
    np.testing.assert_allclose(values, res[pairs[:, 0], pairs[:, 1]], atol=1e-9)

    unit = ((pts.num[:, None, :] - pts.num[None, :, :]) ** 2).sum(axis=2)
    unit += pts.cat[:, None, 0] != pts.cat[None, :, 0]
    ratio = np.where(gap > 0, gap**2 / np.maximum(unit, 1e-12), 0.0)
    steep = _most_steep(pts, y, 14)
    expected = np.sort(ratio.ravel())[::-1][:14]
    np.testing.assert_allclose(np.sort(ratio[steep[:, 0], steep[:, 1]])[::-1], expected)


def test_warm_refit_matches_cold_fit() -> None:
    rng = np.random.default_rng(6)
    x = rng.random((80, 4))
    y = -((x - 0.3) ** 2 @ np.arange(1.0, 5.0))
    first = fit_upper_bound(_points(x[:60]), y[:60])
    warm = fit_upper_bound(_points(x), y, previous=first)
    cold = fit_upper_bound(_points(x), y)
    np.testing.assert_allclose(warm.slopes, cold.slopes, rtol=1e-6, atol=1e-9)


# -- the local model ----------------------------------------------------------------------
def test_quadratic_fit_and_trust_region_step_find_the_maximum() -> None:
    rng = np.random.default_rng(7)
    s = rng.uniform(-1, 1, (10, 3))
    centre = np.array([0.2, -0.1, 0.3])
    f = -((s - centre) ** 2).sum(axis=1)
    _, g, h = fit_quadratic(s, f)
    p = solve_trust_region(g, h, 1.0, -np.ones(3), np.ones(3))
    np.testing.assert_allclose(p, centre, atol=1e-8)
    # A small radius: the step goes to the ball's edge, towards the maximum.
    p = solve_trust_region(g, h, 0.1, -np.ones(3), np.ones(3))
    assert np.linalg.norm(p) == pytest.approx(0.1)
    # Box bounds are honoured.
    p = solve_trust_region(g, h, 1.0, -np.ones(3), np.full(3, 0.1))
    assert np.all(p <= 0.1 + 1e-12)


def _assert_same(a: list[Params], b: list[Params]) -> None:
    assert len(a) == len(b)
    for pa, pb in zip(a, b, strict=True):
        assert pa.keys() == pb.keys()
        for k in pa:
            assert pa[k] == pytest.approx(pb[k], rel=1e-7, abs=1e-9)


# -- the sampler --------------------------------------------------------------------------
def _history(space: SearchSpace, fn: object, n: int, scale: float = 1.0) -> list[Observation]:
    rng = np.random.default_rng(11)
    return [Observation(p, scale * fn(p)) for p in space.sample(rng, n)]  # type: ignore[operator]


@pytest.mark.parametrize("n", [5, 30])
def test_scale_invariance(n: int) -> None:
    space = SearchSpace.from_dict(BRANIN)
    suggestions = []
    for scale in (1e-3, 1.0, 1e3):
        sampler = LipoSampler(space, seed=3)
        sampler.tell(_history(space, _branin, n, scale))
        suggestions.append([sampler.ask(1)[0] for _ in range(4)])
    for other in suggestions[1:]:
        _assert_same(suggestions[0], other)


def test_rebuilt_sampler_repeats_itself() -> None:
    space = SearchSpace.from_dict(BRANIN)
    history = _history(space, _branin, 40)
    grown = LipoSampler(space, seed=1)
    for k in range(30, 41):
        grown.tell(history[:k])
        grown.ask(1)
    fresh = LipoSampler(space, seed=1)
    fresh.tell(history)
    grown.tell(history)
    _assert_same(fresh.ask(3), grown.ask(3))


def test_minimize_and_maximize_mirror() -> None:
    space = SearchSpace.from_dict(BRANIN)
    history = _history(space, _branin, 25)
    mirrored = [Observation(o.params, -o.value) for o in history if o.value is not None]
    low = LipoSampler(space, direction="minimize", seed=2)
    high = LipoSampler(space, direction="maximize", seed=2)
    low.tell(history)
    high.tell(mirrored)
    _assert_same(low.ask(2), high.ask(2))


def test_distinct_pending_suggestions_before_and_after_results() -> None:
    space = SearchSpace.from_dict(BRANIN)
    sampler = LipoSampler(space, seed=0)
    first = sampler.ask(6)
    assert len({tuple(p.values()) for p in first}) == 6
    history = _history(space, _branin, 20)
    sampler.tell(history, pending=first[:3])
    batch = sampler.ask(5)
    keys = {tuple(p.values()) for p in batch + first[:3]}
    assert len(keys) == 8


def test_integers_categoricals_and_failures() -> None:
    space = SearchSpace.from_dict(
        {
            "x": {"type": "float", "low": -2.0, "high": 2.0},
            "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
            "depth": {"type": "int", "low": 1, "high": 12},
            "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
        }
    )
    weight = {"relu": 1.0, "tanh": 2.0, "gelu": 0.5}
    offset = {"relu": 0.5, "tanh": 1.0, "gelu": 0.0}

    def fn(p: Params) -> float:
        if p["depth"] == 1:
            raise RuntimeError("a config that crashes")
        x, lr, depth = float(p["x"]), float(p["lr"]), int(p["depth"])
        act = str(p["act"])
        bowl = (math.log10(lr) + 2) ** 2 + 0.1 * (depth - 7) ** 2
        return weight[act] * (x - 0.7) ** 2 + bowl + offset[act]

    result = optimize(fn, space, sampler="lipo", n_trials=60, seed=0)
    for t in result.trials:
        assert isinstance(t.params["depth"], int) and 1 <= t.params["depth"] <= 12
        assert t.params["act"] in weight
        assert 1e-4 <= float(t.params["lr"]) <= 1e-1
    assert result.best_value is not None and result.best_value < 0.5
    assert result.best_params is not None and result.best_params["act"] == "gelu"


def test_all_failed_history_does_not_crash() -> None:
    space = SearchSpace.from_dict(BRANIN)
    sampler = LipoSampler(space, seed=0)
    rng = np.random.default_rng(0)
    sampler.tell([Observation(p, None, ObservationState.FAILED) for p in space.sample(rng, 8)])
    assert len(sampler.ask(2)) == 2


def test_beats_random_on_branin_at_50_evaluations() -> None:
    wins = 0
    for seed in range(5):
        lipo = optimize(_branin, BRANIN, sampler="lipo", n_trials=50, seed=seed)
        rand = optimize(_branin, BRANIN, sampler="random", n_trials=50, seed=seed)
        assert lipo.best_value is not None and rand.best_value is not None
        wins += lipo.best_value < rand.best_value
    assert wins >= 4


def test_ask_runs_blas_single_threaded_and_restores_the_setting() -> None:
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    seen: list[int] = []
    space = SearchSpace.from_dict(BRANIN)
    sampler = LipoSampler(space, seed=0)
    sampler.tell(_history(space, _branin, 30))
    original = sampler._ask_single_threaded

    def spy(n: int, rng: np.random.Generator) -> list[Params]:
        seen.extend(i["num_threads"] for i in controller.info() if i["user_api"] == "blas")
        return original(n, rng)

    before = [i["num_threads"] for i in controller.info()]
    with controller.limit(limits=2, user_api="blas"):
        sampler._ask_single_threaded = spy  # type: ignore[method-assign]
        assert len(sampler.ask(1)) == 1
        assert seen and set(seen) == {1}
        assert {i["num_threads"] for i in controller.info() if i["user_api"] == "blas"} == {2}
    assert [i["num_threads"] for i in controller.info()] == before


def test_inactive_dimensions_neither_help_nor_hurt_the_bound() -> None:
    # Two numeric dims (x, momentum) and one categorical (optimizer: 0 = sgd, 1 = adam);
    # momentum is active only with sgd. The observations are adam points (momentum inactive)
    # and sgd points; the bound at an sgd candidate must not depend on the momentum
    # placeholder of the adam points, and at an adam candidate not on its own momentum.
    rng = np.random.default_rng(0)
    n = 30
    num = rng.random((n, 2))
    cat = rng.integers(0, 2, (n, 1))
    active = np.ones((n, 3), dtype=bool)
    active[:, 1] = cat[:, 0] == 0
    y = np.sin(4 * num[:, 0]) + np.where(cat[:, 0] == 0, np.cos(3 * num[:, 1]), 0.5)
    points = Points(num, cat, (2,), active)
    bound = fit_upper_bound(points, (y - y.mean()) / y.std())
    moved = points.take(np.arange(n))
    moved_num = moved.num.copy()
    moved_num[~active[:, 1], 1] = rng.random(int((~active[:, 1]).sum()))  # other placeholders
    refit = fit_upper_bound(Points(moved_num, cat, (2,), active), bound.y)
    np.testing.assert_allclose(refit.slopes, bound.slopes, rtol=1e-6, atol=1e-9)
    adam = Points(
        np.array([[0.3, 0.1], [0.3, 0.9]]),
        np.array([[1], [1]]),
        (2,),
        np.array([[True, False, True], [True, False, True]]),
    )
    u = bound(adam)
    assert u[0] == pytest.approx(u[1])  # the candidate's inactive momentum changes nothing
    # Against the same points with no mask, the placeholder does move the bound.
    flat = fit_upper_bound(Points(num, cat, (2,)), bound.y)
    plain = flat(Points(adam.num, adam.cat, (2,)))
    assert plain[0] != pytest.approx(plain[1])


def test_lipo_on_a_conditional_space_finds_the_momentum_branch() -> None:
    space = SearchSpace.from_dict(
        {
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            "momentum": {"type": "float", "low": 0.0, "high": 1.0, "when": {"optimizer": "sgd"}},
            "x": {"type": "float", "low": 0.0, "high": 1.0},
        }
    )

    def f(p: Params) -> float:
        base = (float(p["x"]) - 0.3) ** 2
        return base + ((float(p["momentum"]) - 0.8) ** 2 if "momentum" in p else 0.05)

    result = optimize(f, space, sampler="lipo", n_trials=40, seed=1)
    best = result.best_trial
    assert best is not None and best.params["optimizer"] == "sgd"
    assert best.value is not None and best.value < 0.01
    for trial in result.trials:
        assert space.validate(trial.params) == trial.params
