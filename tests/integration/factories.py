"""Small builders shared by the storage suites."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hpo.spec import StudySpec, parse_study_spec
from hpo.storage import Direction, Study
from hpo.storage import repositories as repo

# The small mixed space of the sampler-cache suites (a log float, an int, a categorical).
CACHE_SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "width": {"type": "int", "low": 16, "high": 256},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu"]},
}


def cache_spec(
    sampler: str, n_trials: int, max_parallel: int, name: str = "cache", seed: int = 7
) -> StudySpec:
    """A study over CACHE_SPACE (TPE starts modelling after 3 trials)."""
    return parse_study_spec(
        {
            "name": name,
            "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
            "space": CACHE_SPACE,
            "sampler": {"name": sampler, "options": {"n_startup_trials": 3}}
            if sampler == "tpe"
            else sampler,
            "budget": {"n_trials": n_trials, "max_parallel": max_parallel},
            "seed": seed,
        }
    )


def cache_value(params: dict[str, Any]) -> float:
    """A cheap deterministic objective over CACHE_SPACE."""
    return (
        float(params["width"]) / 256 + {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[params["activation"]]
    )


def make_study(session: Session, **overrides: Any) -> Study:
    fields: dict[str, Any] = {
        "name": "mlp-mnist1d",
        "direction": Direction.MAXIMIZE,
        "sampler": "tpe",
        "spec": {"task": {"model": "mlp"}, "space": {"lr": {"type": "float"}}},
        "n_trials": 20,
        "max_parallel": 4,
        "max_attempts": 3,
        "seed": 0,
    }
    fields.update(overrides)
    return repo.create_study(session, **fields)
