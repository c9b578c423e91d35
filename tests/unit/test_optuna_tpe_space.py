"""Our TPE is told its search space instead of inferring it from every trial (a per-ask walk
of the whole history): its suggestions must be exactly Optuna's own."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from hpo.samplers._optuna import _FixedSpaceTPE, distributions_for
from hpo.space import space_from_dict

SPACE = space_from_dict(
    {
        "lr": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 16, "high": 512, "log": True},
        "depth": {"type": "int", "low": 1, "high": 4},
        "act": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
        "fixed": {"type": "categorical", "choices": ["only"]},  # single(): left out by TPE
    }
)
OPTIONS: dict[str, Any] = {"n_startup_trials": 5, "multivariate": True, "constant_liar": True}


def _study(n_complete: int, n_failed: int, n_running: int, seed: int) -> optuna.Study:
    dists = distributions_for(SPACE)
    rng = np.random.default_rng(seed)
    study = optuna.create_study()
    trials = []
    for i, params in enumerate(SPACE.sample(rng, n_complete + n_failed + n_running)):
        if i < n_complete:
            value = float(np.log10(params["lr"]) ** 2 + params["depth"])
            trials.append(create_trial(state=TrialState.COMPLETE, value=value, params=params,
                                       distributions=dists))  # fmt: skip
        elif i < n_complete + n_failed:
            trials.append(create_trial(state=TrialState.FAIL, params=params, distributions=dists))
        else:
            trials.append(
                create_trial(state=TrialState.RUNNING, params=params, distributions=dists)
            )
    study.add_trials(trials)
    return study


@pytest.mark.parametrize(
    ("n_complete", "n_failed", "n_running", "startup"),
    [(0, 3, 0, 0), (0, 0, 2, 0), (3, 1, 0, 5), (40, 5, 3, 5), (40, 0, 0, 0)],
)
@pytest.mark.parametrize("multivariate", [True, False])
def test_fixed_space_tpe_suggests_what_optunas_tpe_suggests(
    n_complete: int, n_failed: int, n_running: int, startup: int, multivariate: bool
) -> None:
    options = {**OPTIONS, "n_startup_trials": startup, "multivariate": multivariate}
    dists = distributions_for(SPACE)
    for seed in range(3):
        theirs = _study(n_complete, n_failed, n_running, seed)
        ours = _study(n_complete, n_failed, n_running, seed)
        theirs.sampler = optuna.samplers.TPESampler(**options, seed=seed)
        ours.sampler = _FixedSpaceTPE(distributions=dists, **options, seed=seed)
        for _ in range(3):  # later asks see the earlier ones as RUNNING (constant liar)
            expected = theirs.ask(dists).params
            assert ours.ask(dists).params == expected
