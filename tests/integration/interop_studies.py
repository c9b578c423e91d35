"""Studies with every kind of finished trial, made through the service as workers make them
(claims, reports, completes, fails, the median pruner), for the import/export suites."""

from __future__ import annotations

import math
from typing import Any

from hpo.service import Service
from hpo.spec import StudySpec, parse_study_spec

# Every kind of domain the Optuna mapping handles: log float, stepped float, int, stepped
# int, categorical of strings and of numbers.
SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "dropout": {"type": "float", "low": 0.0, "high": 0.5, "step": 0.1},
    "width": {"type": "int", "low": 8, "high": 64},
    "kernel": {"type": "int", "low": 3, "high": 9, "step": 2},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    "batch": {"type": "categorical", "choices": [16, 32, 64]},
}


def study_spec(**overrides: Any) -> StudySpec:
    base: dict[str, Any] = {
        "name": "interop",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 3, "direction": "maximize"},
        "space": SPACE,
        "sampler": "random",
        "pruner": {"name": "median", "options": {"n_startup_trials": 1}},
        "budget": {"n_trials": 12, "max_parallel": 1, "max_attempts": 1},
        "check_config": False,  # no trainer runs these params
        "seed": 3,
    }
    base.update(overrides)
    return parse_study_spec(base)


def objective(params: dict[str, Any]) -> float:
    """A smooth score in (0, 1), best near lr = 1e-2, width 48."""
    return (
        0.5 * math.exp(-((math.log10(params["lr"]) + 2) ** 2))
        + 0.3 * math.exp(-(((params["width"] - 48) / 20) ** 2))
        + 0.1 * (params["activation"] == "gelu")
        + 0.05 * (1 - params["dropout"])
    )


def run_study(service: Service, spec: StudySpec | None = None) -> int:
    """Create a study and run its budget: every trial reports 0.1, 0.2, 0.3 at steps 0, 1, 2
    (a tie with the median is not pruned), but trial 3 reports 0 (the median pruner prunes
    it); every fifth trial then fails as out of memory, the others complete."""
    study = service.studies.create(spec or study_spec())
    i = 0
    while (lease := service.dispatch.claim("w1", devices=("cpu",))) is not None:
        value = objective(lease.params)
        pruned = False
        for step in range(3):
            reported = 0.0 if i == 3 else (step + 1) / 10
            if service.dispatch.report(lease.trial_id, lease.lease_token, step, reported):
                pruned = True
                break
        if not pruned:
            if i % 5 == 4:
                service.dispatch.fail(lease.trial_id, lease.lease_token, "oom", "out of memory")
            else:
                metrics = {"val_accuracy": value, "epochs": 3}
                service.dispatch.complete(lease.trial_id, lease.lease_token, value, metrics)
        i += 1
    return study.id
