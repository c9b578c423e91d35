"""Command studies in the service, on SQLite and PostgreSQL: created through the API (422s that
name the placeholder or param at fault, the admin token required), claimed only by workers that
accept command trials (the filter is in the claim's SQL), failed as `timeout` (a failure class
the migration added to the CHECK constraint)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database

pytestmark = pytest.mark.integration

COMMAND: dict[str, Any] = {
    "name": "cmd",
    "task": {
        "kind": "command",
        "command": ["python", "train.py", "--lr", "{lr}", "--width={width}"],
        "workdir": "examples/digits",
        "metric": "val_accuracy",
        "timeout_s": 60,
        "env": {"OMP_NUM_THREADS": "{threads}"},
    },
    "space": {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "width": {"type": "int", "low": 8, "high": 64},
    },
    "fixed": {"threads": 2},
    "sampler": "random",
    "budget": {"n_trials": 4, "max_parallel": 2},
}
BUILTIN: dict[str, Any] = {
    "name": "builtin",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 4, "max_parallel": 2},
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, api_token=SecretStr("admin-secret"), worker_token=SecretStr("w")
    )
    with TestClient(create_app(settings)) as c:
        yield c


ADMIN = {"Authorization": "Bearer admin-secret"}


def test_a_command_study_is_stored_with_its_kind_and_needs_the_admin_token(
    client: TestClient,
) -> None:
    refused = client.post("/api/v1/studies", json=COMMAND, headers={"Authorization": "Bearer w"})
    assert refused.status_code == 403, refused.text
    assert client.post("/api/v1/studies", json=COMMAND).status_code == 401
    created = client.post("/api/v1/studies", json=COMMAND, headers=ADMIN)
    assert created.status_code == 201, created.text
    task = created.json()["spec"]["task"]
    assert task["kind"] == "command" and task["direction"] == "maximize"
    # A built-in task is stored as before: no kind.
    builtin = client.post("/api/v1/studies", json=BUILTIN, headers=ADMIN).json()
    assert "kind" not in builtin["spec"]["task"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"command": ["python", "train.py", "--lr", "{lrr}", "--width", "{width}"]},
            "task.command[3]: placeholder {lrr} is neither a param of the space nor a fixed "
            "value (those are: lr, threads, width)",
        ),
        (
            {"command": ["python", "train.py", "--lr", "{lr}"]},
            "space.width: not passed to the script: add {width} to task.command",
        ),
        ({"env": {"HPO_PARAMS": "x"}}, "HPO_* and CUDA_VISIBLE_DEVICES are set by the worker"),
        ({"command": ["python", "{lr:.3f}", "{width}"]}, "has a format; write just {lr}"),
        ({"command": ["python", "{lr", "{width}"]}, "write {{ and }} for literal braces"),
        ({"timeout_s": 0}, "task.timeout_s"),
    ],
)
def test_a_command_task_that_cannot_run_is_a_422_naming_what(
    client: TestClient, change: dict[str, Any], message: str
) -> None:
    spec = {**COMMAND, "task": {**COMMAND["task"], **change}}
    answer = client.post("/api/v1/studies", json=spec, headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert message in answer.text
    assert client.get("/api/v1/studies", headers=ADMIN).json() == []


def test_params_in_env_lets_params_skip_the_placeholders(client: TestClient) -> None:
    task = {**COMMAND["task"], "command": ["python", "train.py"], "env": {}, "params_in_env": True}
    answer = client.post("/api/v1/studies", json={**COMMAND, "task": task}, headers=ADMIN)
    assert answer.status_code == 201, answer.text


def test_claims_take_only_the_task_kinds_the_worker_accepts(db: Database) -> None:
    service = Service(db)
    command = service.studies.create(parse_study_spec(COMMAND)).id
    builtin = service.studies.create(parse_study_spec(BUILTIN)).id
    # A worker that says nothing, or only builtin, gets built-in trials and never a command one.
    taken = [service.dispatch.claim(f"plain-{i}") for i in range(3)]
    taken += [service.dispatch.claim("builtin-only", task_kinds=("builtin",))]
    assert [lease.study_id if lease else None for lease in taken] == [builtin, builtin, None, None]
    lease = service.dispatch.claim("commands", task_kinds=("builtin", "command"))
    assert lease is not None and lease.study_id == command
    assert lease.config["task"]["command"] == COMMAND["task"]["command"]
    assert lease.config["params"]["threads"] == 2  # fixed values travel with the params
    # A command-only claimer gets the command study's second slot, then nothing.
    second = service.dispatch.claim("commands-2", task_kinds=("command",))
    assert second is not None and second.study_id == command
    assert service.dispatch.claim("commands-3", task_kinds=("command",)) is None


def test_a_command_trial_can_fail_as_timeout(db: Database) -> None:
    service = Service(db)
    service.studies.create(parse_study_spec(COMMAND))
    lease = service.dispatch.claim("w", task_kinds=("command",))
    assert lease is not None
    view = service.dispatch.fail(lease.trial_id, lease.lease_token, "timeout", "ran past 60 s")
    assert (view.state, view.failure_class) == ("failed", "timeout")
