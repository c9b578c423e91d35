"""Mistakes that would fail every trial are refused at creation (422 naming the field, nothing
created), and a study whose trials keep failing as config errors pauses itself with the reason;
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.errors import ConflictError
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database, Direction, create_engine_for
from hpo.storage import repositories as repo

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "name": "refused",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    },
    "fixed": {"optimizer": "adam"},
    "sampler": "random",
    "budget": {"n_trials": 10, "max_parallel": 1},
}
COMPARISON: dict[str, Any] = {
    "name": "refused-cmp",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
    "samplers": ["random", "tpe"],
    "n_trials": 2,
    "repeats": 1,
}
VALID_DATASETS = "valid: mnist1d, mnist1d_shuffled, mnist1d_large, digits"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=database_url))) as c:
        yield c


def _space(**params: Any) -> dict[str, Any]:
    return {**SPEC, "space": {**SPEC["space"], **params}}


MISTAKES = [
    ({**SPEC, "task": {**SPEC["task"], "dataset": "mnist2d"}}, "task.dataset", VALID_DATASETS),
    (
        _space(learning_rate={"type": "float", "low": 1e-4, "high": 1e-1}),
        "space.learning_rate",
        "unknown param 'learning_rate' for model mlp; valid: depth, width, activation",
    ),
    (
        _space(activation={"type": "categorical", "choices": ["relu", "rleu"]}),
        "space.activation: choice 'rleu'",
        "unknown activation 'rleu'; valid: relu, leaky_relu, elu",
    ),
    (
        _space(dropout={"type": "float", "low": 0.0, "high": 1.0}),
        "space.dropout: high 1.0",
        "dropout must be in [0.0, 1.0)",
    ),
    (
        _space(depth={"type": "int", "low": -1, "high": 3}),
        "space.depth: low -1",
        "depth must be an integer >= 0",
    ),
    (
        _space(batch_size={"type": "int", "low": 0, "high": 64, "grid": [16, 64]}),
        "space.batch_size: low 0",
        "batch_size must be an integer >= 1",
    ),
    ({**SPEC, "fixed": {"optimizer": "adamm"}}, "fixed.optimizer", "valid: sgd, momentum"),
    ({**SPEC, "fixed": {"kernel_size": 3}}, "fixed.kernel_size", "applies to model cnn, not mlp"),
]


@pytest.mark.parametrize(("body", "field", "valid"), MISTAKES, ids=lambda x: str(x)[:30])
def test_a_spec_the_trainers_refuse_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str, valid: str
) -> None:
    answer = client.post("/api/v1/studies", json=body)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert f"{field}: " in detail and valid in detail, detail
    assert client.get("/api/v1/studies").json() == []  # nothing created


def test_user_files_are_left_to_the_workers_and_the_check_can_be_turned_off(
    client: TestClient,
) -> None:
    for dataset in ("csv:data/iris.csv?label=species", "npz:data/x.npz", "data/x.npz"):
        body = {**SPEC, "task": {**SPEC["task"], "dataset": dataset}}
        assert client.post("/api/v1/studies", json=body).status_code == 201, dataset
    own_code = {**SPEC, "space": {"x": {"type": "int", "low": 0, "high": 3}}}
    assert client.post("/api/v1/studies", json=own_code).status_code == 422
    answer = client.post("/api/v1/studies", json={**own_code, "check_config": False})
    assert answer.status_code == 201, answer.text


def test_a_comparison_the_trainers_refuse_creates_nothing(client: TestClient) -> None:
    body = {**COMPARISON, "fixed": {"activation": "rleu"}}
    answer = client.post("/api/v1/comparisons", json=body)
    assert answer.status_code == 422, answer.text
    assert "fixed.activation: unknown activation 'rleu'" in answer.json()["detail"]
    assert client.get("/api/v1/comparisons").json() == []
    assert client.get("/api/v1/studies").json() == []


def test_an_enqueued_config_the_trainers_refuse_is_a_422(
    client: TestClient, database_url: str
) -> None:
    checked = client.post("/api/v1/studies", json=SPEC).json()["id"]
    good = {"lr": 0.01, "activation": "relu"}
    assert (
        client.post(f"/api/v1/studies/{checked}/trials", json={"params": good}).status_code == 201
    )
    # A study stored before creation checked specs: its enqueued configs are checked.
    legacy = parse_study_spec({**SPEC, "check_config": False}).to_dict()
    del legacy["check_config"]
    legacy["task"]["dataset"] = "mnist2d"
    db = Database(create_engine_for(database_url))
    try:
        with db.transaction() as session:
            study = repo.create_study(
                session, name="legacy", direction=Direction.MAXIMIZE, sampler="random",
                spec=legacy, n_trials=5,
            )  # fmt: skip
            legacy_id = study.id
    finally:
        db.dispose()
    answer = client.post(f"/api/v1/studies/{legacy_id}/trials", json={"params": good})
    assert answer.status_code == 422, answer.text
    assert "params: unknown dataset 'mnist2d'" in answer.json()["detail"]
    assert client.get(f"/api/v1/studies/{legacy_id}/trials").json()["total"] == 0


def _fail_next(service: Service, failure: str, message: str = "") -> None:
    lease = service.dispatch.claim("w")
    assert lease is not None
    service.dispatch.fail(lease.trial_id, lease.lease_token, failure, message)


def _complete_next(service: Service) -> None:
    lease = service.dispatch.claim("w")
    assert lease is not None
    service.dispatch.complete(lease.trial_id, lease.lease_token, 0.5)


def _unchecked(**budget: Any) -> Any:
    # check_config false: the only way left to store a spec whose trials all fail (as a
    # study created before the check, or with a user file the workers cannot read).
    body = {**SPEC, "check_config": False, "budget": {**SPEC["budget"], **budget}}
    return parse_study_spec(body)


UNKNOWN = "unknown dataset 'mnist2d'; valid: mnist1d, digits"


def test_consecutive_config_errors_pause_the_study_with_the_reason(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(_unchecked()).id
    _fail_next(service, "config", UNKNOWN)
    _fail_next(service, "diverged", "loss is nan")  # trained, badly: does not count
    _fail_next(service, "lost", "worker stopped")  # requeued: does not count
    _fail_next(service, "config", UNKNOWN)  # the requeued trial again
    assert service.studies.get(study).state == "running"
    _fail_next(service, "config", UNKNOWN)
    view = service.studies.get(study)
    assert view.state == "paused"
    assert view.paused_reason == f"paused: 3 trials in a row failed with: {UNKNOWN}"
    assert service.dispatch.claim("w") is None  # a paused study hands out nothing
    assert view.failures is not None and view.failures[0].count == 3
    assert view.failures[0].failure_class == "config" and view.failures[0].message == UNKNOWN
    with pytest.raises(ConflictError, match=r"study \d+ is paused with no completed trial: "):
        service.studies.best(study)


def test_a_completed_trial_resets_the_run_and_the_limit_is_the_budgets(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(_unchecked(max_config_errors=2)).id
    _fail_next(service, "config", "bad")
    _complete_next(service)
    _fail_next(service, "config", "bad")
    _fail_next(service, "oom", "out of memory")  # another failure also ends the run
    _fail_next(service, "config", "bad")
    assert service.studies.get(study).state == "running"
    _fail_next(service, "config", "bad")
    view = service.studies.get(study)
    assert view.state == "paused" and view.paused_reason is not None
    assert view.paused_reason.startswith("paused: 2 trials in a row failed with: bad")
    assert view.spec["budget"]["max_config_errors"] == 2


def test_best_of_a_finished_study_with_no_completed_trial_says_why(db: Database) -> None:
    service = Service(db, prepare_suggestions=False)
    study = service.studies.create(_unchecked(n_trials=2, max_config_errors=5)).id
    with pytest.raises(ConflictError, match="no completed trial yet: wait for one to finish"):
        service.studies.best(study)
    _fail_next(service, "config", UNKNOWN)
    _fail_next(service, "config", UNKNOWN)
    assert service.studies.get(study).state == "completed"
    expected = f"study {study} is completed with no completed trial: 2 failed (config: {UNKNOWN})"
    with pytest.raises(ConflictError) as caught:
        service.studies.best(study)
    assert str(caught.value) == expected


@pytest.mark.parametrize("budget", [{"max_config_errors": 0}, {"max_config_errors": True}])
def test_max_config_errors_is_validated(client: TestClient, budget: dict[str, Any]) -> None:
    answer = client.post("/api/v1/studies", json={**SPEC, "budget": budget})
    assert answer.status_code == 422 and "budget.max_config_errors" in answer.text
