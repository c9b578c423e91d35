"""Optuna distributions onto our space format, and what is refused with the parameter named
(in-memory Optuna studies: no database)."""

from __future__ import annotations

from collections.abc import Callable

import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, create_trial

from hpo.errors import HpoError
from hpo.interop.optuna_import import space_of, study_direction, trial_record
from hpo.space import space_from_dict
from hpo.states import FailureClass, TrialState

pytestmark = pytest.mark.unit

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _trials(objective: Callable[[optuna.Trial], float], n: int = 4) -> list[FrozenTrial]:
    study = optuna.create_study()
    study.optimize(objective, n_trials=n)
    return study.trials


def test_every_distribution_kind_maps() -> None:
    def objective(t: optuna.Trial) -> float:
        t.suggest_float("lr", 1e-4, 1e-1, log=True)
        t.suggest_float("dropout", 0.0, 0.5, step=0.1)
        t.suggest_int("width", 8, 64, log=True)
        t.suggest_int("kernel", 3, 9, step=2)
        t.suggest_categorical("act", ["relu", "tanh"])
        t.suggest_categorical("flag", [True, False])
        return 0.0

    space = space_of(_trials(objective))
    assert space == {
        "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "width": {"type": "int", "low": 8, "high": 64, "log": True},
        "kernel": {"type": "int", "low": 3, "high": 9, "step": 2},
        "act": {"type": "categorical", "choices": ["relu", "tanh"]},
        "flag": {"type": "categorical", "choices": [True, False]},
    }
    space_from_dict(space)  # a valid hpo space


def _with(name: str, distribution: BaseDistribution, value: object) -> FrozenTrial:
    return create_trial(params={name: value}, distributions={name: distribution}, value=1.0)


@pytest.mark.parametrize(
    ("trials", "message"),
    [
        (
            [_with("opt", CategoricalDistribution([None, "a"]), "a")],
            "parameter 'opt' has the choice None",
        ),
        (
            [_with("n", IntDistribution(4, 4), 4)],
            "parameter 'n' has a single value",
        ),
        (
            [_with("x", FloatDistribution(0, 1), 0.5), _with("x", FloatDistribution(0, 2), 0.5)],
            "parameter 'x' has distribution",
        ),
    ],
)
def test_what_cannot_be_mapped_is_refused_by_name(trials: list[FrozenTrial], message: str) -> None:
    with pytest.raises(HpoError, match=message):
        space_of(trials)


def test_a_conditional_parameter_is_refused_by_name() -> None:
    def objective(t: optuna.Trial) -> float:
        if t.suggest_categorical("model", ["a", "b"]) == "a":
            t.suggest_float("alpha", 0, 1)
        return 0.0

    trials = [t for t in _trials(objective, 12)]
    with pytest.raises(HpoError, match="parameter 'alpha' is set in"):
        space_of(trials)


def test_several_objectives_are_refused() -> None:
    study = optuna.create_study(directions=["minimize", "maximize"], study_name="two")
    with pytest.raises(HpoError, match="'two' has 2 objectives"):
        study_direction(study)


def test_trials_map_to_records() -> None:
    dist: dict[str, BaseDistribution] = {"x": FloatDistribution(0, 1)}
    pruned = create_trial(
        state=optuna.trial.TrialState.PRUNED,
        params={"x": 0.5},
        distributions=dist,
        intermediate_values={0: 0.3, 1: float("nan"), 2: 0.4},
    )
    record = trial_record(pruned)
    assert record.state is TrialState.PRUNED and record.reports == ((0, 0.3), (2, 0.4))
    failed = create_trial(
        state=optuna.trial.TrialState.FAIL,
        params={"x": 0.5},
        distributions=dist,
        system_attrs={"fail_reason": "ValueError: boom"},
    )
    record = trial_record(failed)
    assert (
        record.failure_class is FailureClass.USER and record.failure_message == "ValueError: boom"
    )
    infinite = create_trial(params={"x": 0.1}, distributions=dist, value=float("inf"))
    record = trial_record(infinite)
    assert record.state is TrialState.FAILED and record.failure_class is FailureClass.DIVERGED
