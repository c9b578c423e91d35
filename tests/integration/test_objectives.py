"""Constraints and several objectives on real databases (SQLite and PostgreSQL): infeasible
trials never the best nor on the front, the Pareto front and leaderboard of a two-objective
study, `--pick`, the hypervolume history, and bad specs refused with nothing created."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.errors import ValidationError
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database

pytestmark = pytest.mark.integration

SPACE = {"dropout": {"type": "float", "low": 0.0, "high": 0.5}}
TWO = [
    {"metric": "val_accuracy", "direction": "maximize"},
    {"metric": "n_params", "direction": "minimize"},
]


def spec(**overrides: Any) -> Any:
    base: dict[str, Any] = {
        "name": "objectives",
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": SPACE,
        "sampler": "random",
        "budget": {"n_trials": 20, "max_parallel": 8},
    }
    base.update(overrides)
    return parse_study_spec(base)


def _run(service: Service, results: list[tuple[float, dict[str, float]]]) -> list[int]:
    """Claim one trial per result and complete it with (value, metrics); the trial ids."""
    ids = []
    for value, metrics in results:
        lease = service.dispatch.claim("w")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, value, metrics)
        ids.append(lease.trial_id)
    return ids


def test_constraints_keep_infeasible_trials_off_best(db: Database) -> None:
    service = Service(db)
    study = service.studies.create(
        spec(constraints=[{"metric": "n_params", "max": 1000}, {"metric": "latency_ms", "max": 2}])
    )
    ids = _run(
        service,
        [
            (0.99, {"n_params": 5000, "latency_ms": 1.0}),  # the top value, too big
            (0.97, {"n_params": 500, "latency_ms": 3.0}),  # too slow
            (0.90, {"n_params": 800, "latency_ms": 1.5}),  # feasible
            (0.80, {"n_params": 100, "latency_ms": 0.5}),  # feasible
        ],
    )
    best = service.studies.best(study.id)
    assert best.trial_id == ids[2]
    board = service.studies.leaderboard(study.id, k=10)
    assert [t.id for t in board] == [ids[2], ids[3]]
    trials, _ = service.studies.trials(study.id)
    feasible = {t.id: t.feasible for t in trials}
    assert feasible == {ids[0]: False, ids[1]: False, ids[2]: True, ids[3]: True}
    assert service.studies.get(study.id).best.id == ids[2]  # type: ignore[union-attr]
    # The history plot draws every value but never takes an infeasible one as the best.
    history = service.analytics.plots(study.id).history
    assert history.value == [0.99, 0.97, 0.90, 0.80]
    assert history.best == [None, None, 0.90, 0.90]


def test_two_objectives_front_leaderboard_pick_and_hypervolume(db: Database) -> None:
    service = Service(db)
    study = service.studies.create(
        spec(objectives=TWO, constraints=[{"metric": "latency_ms", "max": 2.0}])
    )
    results = [
        (0.95, {"n_params": 900_000, "latency_ms": 1.0}),
        (0.948, {"n_params": 200_000, "latency_ms": 1.0}),
        (0.94, {"n_params": 300_000, "latency_ms": 1.0}),  # dominated by the one above
        (0.90, {"n_params": 10_000, "latency_ms": 1.0}),
        (0.99, {"n_params": 1_000, "latency_ms": 9.0}),  # dominates all, but infeasible
    ]
    ids = _run(service, results)
    front = service.studies.pareto(study.id)
    assert [t.id for t in front] == [ids[0], ids[1], ids[3]]  # best val_accuracy first
    assert front[0].values is not None
    assert [t.id for t in service.studies.leaderboard(study.id, k=10)] == [t.id for t in front]
    picked = service.studies.best(
        study.id, "smallest n_params within 0.005 of the best val_accuracy"
    )
    assert picked.trial_id == ids[1]
    assert picked.values == [0.948, 200_000.0]
    assert service.studies.best(study.id, "best n_params").trial_id == ids[3]
    assert service.studies.best(study.id, "knee").trial_id in (ids[1], ids[3])
    with pytest.raises(ValidationError, match="knee \\| best OBJECTIVE"):
        service.studies.best(study.id, "the smallest one")
    history = service.studies.hypervolume(study.id)
    assert history is not None
    assert len(history.hypervolume) == 5
    # Never decreasing; the infeasible last trial adds nothing.
    assert history.hypervolume == sorted(history.hypervolume)
    assert history.hypervolume[-1] == history.hypervolume[-2] > 0


def test_a_missing_objective_metric_is_refused_and_the_trial_stays_running(db: Database) -> None:
    service = Service(db)
    study = service.studies.create(spec(objectives=TWO))
    lease = service.dispatch.claim("w")
    assert lease is not None
    with pytest.raises(ValidationError, match="n_params"):
        service.dispatch.complete(lease.trial_id, lease.lease_token, 0.9, {"latency_ms": 1.0})
    trials, _ = service.studies.trials(study.id)
    assert [t.state for t in trials] == ["running"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"objectives": [TWO[0], TWO[0]]}, "twice"),
        ({"objectives": [{"metric": "f1"}]}, "not one the built-in trainers report"),
        ({"constraints": [{"metric": "n_params"}]}, "neither min nor max"),
        ({"objectives": TWO, "sampler": "cmaes"}, "use one of .*nsga2"),
    ],
)
def test_bad_objectives_are_refused_and_nothing_is_created(
    db: Database, overrides: dict[str, Any], message: str
) -> None:
    service = Service(db)
    with pytest.raises(ValidationError, match=message):
        service.studies.create(spec(**overrides))
    assert service.studies.list_studies() == []


def test_a_two_objective_comparison_ranks_samplers_by_hypervolume(db: Database) -> None:
    from hpo.comparison_spec import parse_comparison_spec

    service = Service(db, prepare_suggestions=False)
    view = service.comparisons.create(
        parse_comparison_spec(
            {
                "name": "mo",
                "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
                "space": SPACE,
                "samplers": ["random", "nsga2"],
                "n_trials": 2,
                "repeats": 2,
                # A fixed reference: accuracy 0, 1000 parameters.
                "objectives": [{**TWO[0], "reference": 0.0}, {**TWO[1], "reference": 1000}],
                "constraints": [{"metric": "latency_ms", "max": 2.0}],
            }
        )
    )
    assert view.objective == "hypervolume" and view.direction == "maximize"
    # Per study (random seeds 0, 1, then nsga2 seeds 0, 1): (accuracy, n_params, latency).
    script = {
        ("random", 0): [(0.5, 500, 1.0), (0.9, 900, 1.0)],  # hv .5*500 + .4*100 = 290
        ("random", 1): [(0.8, 200, 9.0), (0.6, 600, 1.0)],  # the first infeasible: .6*400=240
        ("nsga2", 0): [(0.9, 100, 1.0), (0.2, 50, 1.0)],  # .9*900 + .2*50 = 820
        ("nsga2", 1): [(0.7, 300, 1.0), (0.7, 300, 1.0)],  # .7*700 = 490
    }
    for study in view.studies:
        for accuracy, n_params, latency in script[(study.sampler, study.seed)]:
            lease = service.dispatch.ask(study.id)
            metrics = {"n_params": n_params, "latency_ms": latency}
            service.dispatch.complete(lease.trial_id, lease.lease_token, accuracy, metrics)
    view = service.comparisons.get(view.id)
    expected = {"random": [290.0, 240.0], "nsga2": [820.0, 490.0]}
    results = {r.sampler: r for r in view.results}
    for sampler, values in expected.items():
        assert results[sampler].best_values == [pytest.approx(v) for v in values]
        assert results[sampler].median_best == pytest.approx(sum(values) / 2)
    assert [r.sampler for r in view.results] == ["nsga2", "random"]
    # The curve is the hypervolume after each trial: random seed 1 has none after its first.
    assert view.curves["random"].by_trial.x == [1, 2]


@pytest.fixture
def api(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as c:
        yield c


BASE: dict[str, Any] = {
    "name": "objectives",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": SPACE,
    "sampler": "random",
}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"objectives": [TWO[1], TWO[1]]}, "twice"),
        ({"objectives": [{"metric": "f1"}]}, "val_accuracy, val_loss"),
        ({"constraints": [{"metric": "n_params"}]}, "give min, max or both"),
        ({"objectives": TWO, "sampler": "cmaes"}, "use one of"),
    ],
)
def test_the_api_answers_bad_objectives_with_422_and_creates_nothing(
    api: TestClient, extra: dict[str, Any], message: str
) -> None:
    response = api.post("/api/v1/studies", json=BASE | extra)
    assert response.status_code == 422, response.text
    assert message in response.text
    assert api.get("/api/v1/studies").json() == []


def test_the_api_serves_the_front_the_hypervolume_and_refuses_a_bad_pick(
    api: TestClient,
) -> None:
    study = api.post("/api/v1/studies", json=BASE | {"objectives": TWO}).json()["id"]
    assert api.get(f"/api/v1/studies/{study}/pareto").json() == []
    assert api.get(f"/api/v1/studies/{study}/hypervolume").json()["hypervolume"] == []
    bad = api.get(f"/api/v1/studies/{study}/best", params={"pick": "the best one"})
    assert bad.status_code == 400 and "knee | best OBJECTIVE" in bad.text
