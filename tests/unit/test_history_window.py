"""The bounded history window of the model-based samplers (`hpo/samplers/_window.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from hpo.errors import ValidationError
from hpo.samplers import Observation, default_registry
from hpo.samplers._window import HistoryWindow, window_option
from hpo.space import space_from_dict

pytestmark = pytest.mark.unit

SPACE = space_from_dict(
    {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "y": {"type": "float", "low": 0.0, "high": 1.0},
        "k": {"type": "categorical", "choices": ["a", "b", "c"]},
    }
)


def test_no_window_up_to_max_history_then_a_cut_that_moves_in_quarter_steps() -> None:
    w = HistoryWindow(100)
    assert [w.cut(n) for n in (0, 50, 100)] == [0, 0, 0]
    assert w.cut(101) == 25  # the first cut is a whole step
    assert {w.cut(n) for n in range(101, 125)} == {25}  # stable between steps
    assert w.cut(125) == 50
    assert HistoryWindow(None).cut(10**6) == 0


def test_rows_keep_the_best_of_the_older_part_and_every_recent_one_in_order() -> None:
    rng = np.random.default_rng(0)
    n = 400
    losses = rng.random(n)
    valued = np.ones(n, dtype=bool)
    valued[3] = False  # a failure is never among the kept best
    losses[3] = -1.0
    w = HistoryWindow(100, keep_best=10)
    rows = w.rows(losses, valued)
    cut = w.cut(n)
    old = rows[rows < cut]
    assert len(old) == 10 and 3 not in old
    assert set(old) == set(np.argsort(np.where(valued[:cut], losses[:cut], np.inf))[:10])
    assert list(rows[rows >= cut]) == list(range(cut, n))
    assert list(rows) == sorted(rows)
    # The overall best is always in the window.
    best = int(np.argmin(np.where(valued, losses, np.inf)))
    assert best in rows


def test_max_history_option_is_checked() -> None:
    assert window_option(None).max_history is None
    with pytest.raises(ValidationError, match="max_history must be an integer >= 100"):
        window_option(10)
    with pytest.raises(ValidationError, match="max_history"):
        default_registry().create("tpe", SPACE, options={"max_history": 5})


def _history(n: int, seed: int = 0) -> list[Observation]:
    rng = np.random.default_rng(seed)
    return [Observation(p, float(p["x"]) + float(p["y"])) for p in SPACE.sample(rng, n)]


@pytest.mark.parametrize("name", ["tpe", "cmaes"])
def test_optuna_study_holds_the_window_not_the_whole_history(name: str) -> None:
    """The adapter's study holds at most max_history + keep_best results (+ pending), however
    long the history; within a window step it is extended, at a step rebuilt once."""
    sampler = default_registry().create(name, SPACE, seed=0, options={"max_history": 100})
    history = _history(300)
    sampler.tell(history[:150], [])
    sampler.ask(1)
    rebuilds = sampler.rebuilds  # type: ignore[attr-defined]
    for i in range(150, 300):
        sampler.extend([history[i]], [])  # type: ignore[attr-defined]
        sampler.ask(1)
        assert sampler.kept_trials <= 100 + 50 + 1  # type: ignore[attr-defined]
    # 150 more results at a step of 25: six window moves, one rebuild each.
    assert sampler.rebuilds - rebuilds == 6  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["tpe", "lipo", "cmaes"])
def test_windowed_sampler_is_still_a_function_of_its_history(name: str) -> None:
    """Extended one result at a time or told the whole history afresh: same suggestion."""
    history = _history(260, seed=1)
    grown = default_registry().create(name, SPACE, seed=3, options={"max_history": 100})
    grown.tell(history[:90], [])
    grown.ask(1)
    for obs in history[90:]:
        grown.extend([obs], [])  # type: ignore[attr-defined]
        grown.ask(1)
    fresh = default_registry().create(name, SPACE, seed=3, options={"max_history": 100})
    fresh.tell(history, [])
    grown.tell(history, [])
    assert grown.ask(1) == fresh.ask(1)
