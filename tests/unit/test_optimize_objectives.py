"""`hpo.optimize` with several objectives and constraints: `result.pareto` is the brute-force
non-dominated set of the feasible trials, and bad objectives are refused before any call."""

from __future__ import annotations

from typing import Any

import pytest

import hpo
from hpo.errors import ValidationError
from hpo.samplers import default_registry

pytestmark = pytest.mark.unit

SPACE = {"x": {"type": "float", "low": -1.0, "high": 3.0}}


def _two(p: dict[str, Any]) -> dict[str, float]:
    x = float(p["x"])
    return {"a": x**2, "b": (x - 2) ** 2, "x": x}


def _dominates(u: tuple[float, ...], v: tuple[float, ...]) -> bool:
    return all(a <= b for a, b in zip(u, v, strict=True)) and u != v


@pytest.mark.parametrize("sampler", sorted(default_registry().multi_objective_names()))
def test_pareto_is_the_non_dominated_feasible_set(sampler: str) -> None:
    options = {"cap": 64} if sampler == "grid" else None
    space = {"x": {**SPACE["x"], "grid_points": 16}} if sampler == "grid" else SPACE
    if sampler == "gp":
        options = {"n_startup_trials": 1000}  # its model costs seconds an ask on 2 cores
    result = hpo.optimize(
        _two,
        space,
        sampler=sampler,
        n_trials=16,
        sampler_options=options,
        objectives=[{"metric": "a"}, {"metric": "b"}],
        constraints=[{"metric": "x", "max": 1.5}],
    )
    feasible = [t for t in result.trials if t.feasible and t.values is not None]
    assert len(feasible) < len(result.trials) or sampler == "grid"
    expected = {
        t.number
        for t in feasible
        if not any(_dominates(o.values, t.values) for o in feasible)  # type: ignore[arg-type]
    }
    assert {t.number for t in result.pareto} == expected
    firsts = [t.values[0] for t in result.pareto]  # type: ignore[index]
    assert firsts == sorted(firsts)
    assert result.best_value == firsts[0]


def test_sequence_returns_and_failures() -> None:
    def f(p: dict[str, Any]) -> Any:
        if p["x"] > 2.5:
            return "not numbers"
        return (p["x"], -p["x"])

    result = hpo.optimize(f, SPACE, sampler="random", n_trials=20, objectives=["minimize"] * 2)
    assert {t.state for t in result.trials} >= {"completed", "failed"}
    assert len(result.pareto) == sum(t.state == "completed" for t in result.trials)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"objectives": [{"metric": "a"}, {"metric": "a"}]}, "twice"),
        ({"objectives": ["up", "down"]}, "not a direction"),
        ({"objectives": [{"metric": "a"}], "constraints": [{"metric": "a"}]}, "neither min"),
        ({"objectives": ["minimize", "minimize"], "sampler": "cmaes"}, "use one of"),
        ({"constraints": [{"metric": "a", "max": 1}]}, "give objectives"),
    ],
)
def test_bad_objectives_are_refused_before_any_evaluation(
    kwargs: dict[str, Any], message: str
) -> None:
    calls: list[object] = []

    def f(p: dict[str, Any]) -> float:
        calls.append(p)
        return 0.0

    with pytest.raises(ValidationError, match=message):
        hpo.optimize(f, SPACE, n_trials=3, **kwargs)
    assert calls == []
