"""A comparison's studies progress together, and its ranking says when samplers are within
noise (issue 17), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.comparison_spec import parse_comparison_spec
from hpo.service import Service
from hpo.settings import Settings
from hpo.storage import Database

pytestmark = pytest.mark.integration

SPACE = {
    "a": {"type": "int", "low": 0, "high": 7},
    "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True, "grid_points": 3},
}


def comparison(samplers: list[str], repeats: int, n_trials: int) -> dict[str, Any]:
    return {
        "name": "cmp",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1, "metric": "val_accuracy"},
        "space": SPACE,
        "samplers": samplers,
        "n_trials": n_trials,
        "repeats": repeats,
        "seed": 1,
        "check_config": False,  # its params are not the trainers' (no trainer runs them)
    }


def test_one_worker_claiming_sequentially_keeps_the_samplers_level(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    spec = comparison(["random", "grid", "tpe"], repeats=1, n_trials=4)
    view = service.comparisons.create(parse_comparison_spec(spec))
    sampler_of = {s.id: s.sampler for s in view.studies}
    started: Counter[str] = Counter()
    for _ in range(12):
        lease = service.dispatch.claim("w1")
        assert lease is not None
        started[sampler_of[lease.study_id]] += 1
        counts = [started[s] for s in ("random", "grid", "tpe")]
        assert max(counts) - min(counts) <= 1, counts
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)
    assert service.dispatch.claim("w1") is None
    assert service.comparisons.get(view.id).state == "completed"


def test_seeds_of_one_sampler_progress_together_too(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    view = service.comparisons.create(
        parse_comparison_spec(comparison(["random", "tpe"], repeats=2, n_trials=3))
    )
    started: Counter[int] = Counter()
    for _ in range(12):
        lease = service.dispatch.claim("w1")
        assert lease is not None
        started[lease.study_id] += 1
        counts = [started[s.id] for s in view.studies]
        assert max(counts) - min(counts) <= 1, counts
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)


def run(service: Service, values: dict[str, list[float]], repeats: int) -> int:
    """A comparison whose studies each complete one trial with the given value per seed."""
    spec = comparison(list(values), repeats=repeats, n_trials=1)
    view = service.comparisons.create(parse_comparison_spec(spec))
    for study in view.studies:
        lease = service.dispatch.ask(study.id)
        value = values[study.sampler][study.seed - 1]
        service.dispatch.complete(lease.trial_id, lease.lease_token, value)
    return view.id


def test_overlapping_seeds_are_within_noise(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    # Interquartile ranges: tpe .64-.66, random .635-.655 (overlap), grid .60-.61 (clear).
    values = {
        "grid": [0.60, 0.61, 0.60],
        "random": [0.63, 0.64, 0.67],
        "tpe": [0.65, 0.63, 0.67],
    }
    view = service.comparisons.get(run(service, values, repeats=3))
    assert [r.sampler for r in view.results] == ["tpe", "random", "grid"]
    assert view.within_noise == ["tpe", "random"]
    assert view.verdict == "tpe, random: within noise at 3 seeds"


def test_a_clear_leader_is_said_to_be_clear(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    values = {"random": [0.50, 0.52, 0.51], "tpe": [0.70, 0.71, 0.72]}
    view = service.comparisons.get(run(service, values, repeats=3))
    assert view.within_noise == ["tpe"]
    assert view.verdict is not None and view.verdict.startswith("tpe leads beyond the noise")


def test_one_seed_cannot_separate_anything(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    view = service.comparisons.get(run(service, {"random": [0.5], "tpe": [0.9]}, repeats=1))
    assert view.within_noise == ["tpe", "random"]
    assert view.verdict == "tpe, random: within noise at 1 seed (one seed has no spread)"


def test_the_api_view_carries_the_verdict(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    comparison_id = run(service, {"random": [0.5, 0.6], "tpe": [0.55, 0.58]}, repeats=2)
    view = service.comparisons.get(comparison_id)
    assert view.verdict is not None
    with TestClient(create_app(Settings(migrate_on_start=False), service=service)) as client:
        body = client.get(f"/api/v1/comparisons/{comparison_id}").json()
    assert body["verdict"] == view.verdict
    assert body["within_noise"] == ["tpe", "random"]
