"""Hyperparameter importance for the web UI (PED-ANOVA on an in-memory Optuna study) and its
cache: the result, and the notes that explain an empty or odd result."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from hpo.service.importance import ImportanceCache, ImportanceView, compute_importance
from hpo.space import space_from_dict

pytestmark = pytest.mark.unit

SPACE = space_from_dict(
    {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 16, "high": 256},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    }
)


def _trials(n: int, seed: int = 0) -> list[tuple[dict[str, object], float]]:
    rng = random.Random(seed)
    out: list[tuple[dict[str, object], float]] = []
    for _ in range(n):
        params: dict[str, Any] = {
            "lr": 10 ** rng.uniform(-4, -1),
            "width": rng.randint(16, 256),
            "activation": rng.choice(["relu", "tanh"]),
        }
        out.append((params, abs(math.log10(float(params["lr"])) + 2.5)))  # only lr matters
    return out


def test_the_parameter_that_matters_comes_first() -> None:
    view = compute_importance(1, SPACE, "minimize", _trials(200), 200)
    assert view.importances[0].param == "lr"
    assert view.importances[0].importance > 0.5
    assert view.n_used == 200 and view.note is None


def test_notes_say_why_or_what_was_left_out() -> None:
    few = compute_importance(1, SPACE, "minimize", _trials(5), 5)
    assert few.importances == [] and few.note == "needs at least 10 completed trials (5 so far)"
    capped = compute_importance(1, SPACE, "minimize", _trials(50), 900)
    assert capped.note == "computed on the latest 50 of 900 completed trials"
    flat = compute_importance(1, SPACE, "minimize", [(p, 1.0) for p, _ in _trials(30)], 30)
    assert "same set of trials" in (flat.note or "")
    one = compute_importance(
        1,
        space_from_dict({"x": {"type": "float", "low": 0, "high": 1}}),
        "minimize",
        [({"x": 0.5}, 1.0)],
        1,
    )
    assert [(i.param, i.importance) for i in one.importances] == [("x", 1.0)]


def test_trials_outside_the_space_are_skipped() -> None:
    outside = ({"lr": 5.0, "width": 16, "activation": "relu"}, 0.0)  # lr above its high
    missing = ({"lr": 0.01}, 0.0)  # width and activation missing
    trials: list[tuple[dict[str, Any], float]] = [*_trials(20), outside, missing]
    view = compute_importance(1, SPACE, "minimize", trials, 22)
    assert view.n_used == 20


def test_cache_answers_only_for_the_same_completed_count_and_is_bounded() -> None:
    cache = ImportanceCache(max_studies=2)
    view = ImportanceView(1, "m", 10, 10)
    cache.put(1, 10, view)
    assert cache.get(1, 10) is view
    assert cache.get(1, 11) is None
    cache.put(2, 5, ImportanceView(2, "m", 5, 5))
    cache.get(1, 10)  # study 1 is now the most recently used
    cache.put(3, 5, ImportanceView(3, "m", 5, 5))
    assert cache.get(2, 5) is None and cache.get(1, 10) is view


CONDITIONAL = space_from_dict(
    {
        "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
        "momentum": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": ["sgd"]}},
        "width": {"type": "int", "low": 16, "high": 256},
    }
)


def test_a_conditional_parameter_is_scored_on_the_trials_where_it_is_active() -> None:
    rng = random.Random(3)
    trials: list[tuple[dict[str, Any], float]] = []
    for _ in range(200):
        params: dict[str, Any] = {"optimizer": rng.choice(["sgd", "adam"])}
        if params["optimizer"] == "sgd":
            params["momentum"] = rng.uniform(0.5, 0.99)
        params["width"] = rng.randint(16, 256)
        # Only momentum matters (adam sits in the middle of sgd's range of values).
        value = abs(params["momentum"] - 0.9) if "momentum" in params else 0.1
        trials.append((params, value))
    # A trial that carries momentum while inactive is not one of this space's: skipped.
    trials.append(({"optimizer": "adam", "momentum": 0.9, "width": 32}, 0.0))
    view = compute_importance(1, CONDITIONAL, "minimize", trials, 201)
    assert view.n_used == 200  # every trial holding exactly its active parameters is used
    assert view.importances[0].param == "momentum"
    assert math.isclose(sum(i.importance for i in view.importances), 1.0)
