"""hpo.optimize: the local loop: failures go on, best is right, directions, grid exhaustion."""

from __future__ import annotations

import itertools
import math

import pytest

import hpo
from hpo.errors import SearchSpaceError, UnknownSamplerError, ValidationError
from hpo.optimize import OptimizeResult, Trial, optimize
from hpo.samplers import ObservationState
from hpo.space import Params

pytestmark = pytest.mark.unit

SPACE = {
    "x": {"type": "float", "low": -5.0, "high": 5.0},
    "k": {"type": "int", "low": 0, "high": 4},
}


def quadratic(p: Params) -> float:
    return (float(p["x"]) - 1.0) ** 2 + (int(p["k"]) - 2) ** 2


def test_runs_the_budget_and_finds_the_best_in_evaluation_order() -> None:
    result = optimize(quadratic, SPACE, sampler="random", n_trials=30, seed=0)
    assert isinstance(result, OptimizeResult)
    assert [t.number for t in result.trials] == list(range(30))
    values = [t.value for t in result.trials]
    assert result.best_value == min(v for v in values if v is not None)
    assert result.best_params is not None and quadratic(result.best_params) == result.best_value
    curve = result.best_so_far()
    assert curve[-1] == result.best_value and all(a >= b for a, b in itertools.pairwise(curve))  # type: ignore[operator]


def test_maximize_picks_the_largest_value() -> None:
    result = optimize(quadratic, SPACE, sampler="random", n_trials=20, direction="maximize")
    assert result.best_value == max(t.value for t in result.trials if t.value is not None)
    assert result.direction == "maximize"


def test_exceptions_bad_returns_and_nan_become_failed_or_diverged_trials() -> None:
    calls = {"n": 0}

    def flaky(p: Params) -> float:
        calls["n"] += 1
        if calls["n"] % 4 == 1:
            raise RuntimeError("out of memory")
        if calls["n"] % 4 == 2:
            return math.nan
        if calls["n"] % 4 == 3:
            return "oops"  # type: ignore[return-value]
        return quadratic(p)

    result = optimize(flaky, SPACE, sampler="tpe", n_trials=12, seed=1)
    states = [t.state for t in result.trials]
    assert len(result.trials) == 12
    assert states[:4] == [
        ObservationState.FAILED,
        ObservationState.DIVERGED,
        ObservationState.FAILED,
        ObservationState.COMPLETED,
    ]
    assert result.trials[0].error == "RuntimeError: out of memory"
    assert "not a number" in (result.trials[2].error or "")
    assert result.trials[1].value is None
    assert result.best_value == min(t.value for t in result.trials if t.value is not None)


def test_all_failures_give_no_best() -> None:
    def broken(p: Params) -> float:
        raise ValueError("bad config")

    result = optimize(broken, SPACE, sampler="random", n_trials=3)
    assert result.best_params is None and result.best_value is None
    assert all(t.state is ObservationState.FAILED for t in result.trials)


def test_numpy_scalars_are_accepted() -> None:
    np = pytest.importorskip("numpy")
    result = optimize(lambda p: np.float32(p["x"]), SPACE, sampler="random", n_trials=3)
    assert all(isinstance(t.value, float) for t in result.trials)


def test_callback_sees_every_trial_and_objective_gets_a_copy() -> None:
    seen: list[Trial] = []

    def mutating(p: Params) -> float:
        p["x"] = 99.0
        return 1.0

    result = optimize(mutating, SPACE, sampler="random", n_trials=4, callback=seen.append)
    assert seen == list(result.trials)
    assert all(t.params["x"] != 99.0 for t in result.trials)


def test_grid_stops_when_exhausted_and_visits_every_point_once() -> None:
    space = {
        "a": {"type": "categorical", "choices": ["x", "y"]},
        "k": {"type": "int", "low": 0, "high": 2},
    }
    result = optimize(lambda p: float(p["k"]), space, sampler="grid", n_trials=100)
    assert len(result.trials) == 6
    assert len({(t.params["a"], t.params["k"]) for t in result.trials}) == 6


def test_enqueued_configs_run_first() -> None:
    first = {"x": 1.0, "k": 2}
    result = optimize(quadratic, SPACE, sampler="random", n_trials=3, enqueue=[first])
    assert result.trials[0].params == first and result.best_value == 0.0


def test_same_seed_same_trials() -> None:
    a = optimize(quadratic, SPACE, sampler="tpe", n_trials=15, seed=4)
    b = optimize(quadratic, SPACE, sampler="tpe", n_trials=15, seed=4)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]


def test_tpe_beats_its_start_on_a_simple_problem() -> None:
    result = optimize(quadratic, SPACE, sampler="tpe", n_trials=40, seed=0)
    assert result.best_value is not None and result.best_value < 0.5


def test_bad_arguments_fail_before_any_evaluation() -> None:
    def never(p: Params) -> float:
        raise AssertionError("must not run")

    with pytest.raises(UnknownSamplerError):
        optimize(never, SPACE, sampler="nope")
    with pytest.raises(ValidationError, match="direction"):
        optimize(never, SPACE, direction="up")  # type: ignore[arg-type]
    with pytest.raises(SearchSpaceError):
        optimize(never, {"x": {"type": "float", "low": 1, "high": 0}})
    with pytest.raises(ValidationError, match="n_trials"):
        optimize(never, SPACE, n_trials=-1)
    with pytest.raises(ValidationError, match="invalid parameters"):
        optimize(never, SPACE, sampler="random", enqueue=[{"x": 0.0}])


def test_hpo_optimize_is_callable_from_the_package() -> None:
    import hpo.optimize as module

    result = module(quadratic, SPACE, sampler="random", n_trials=2)  # type: ignore[operator]
    assert len(result.trials) == 2
    assert hpo.OptimizeResult is OptimizeResult
