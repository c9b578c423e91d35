"""Small builders shared by the storage suites."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hpo.storage import Direction, Study
from hpo.storage import repositories as repo


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
