"""The server refuses, at creation (422), a dataset path no worker should be asked to read:
`..`, `~`, and absolute paths outside `HPO_DATASET_ROOTS` (issue 11, defect 4). Studies and
comparisons alike; nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.settings import Settings

pytestmark = pytest.mark.integration

SPEC: dict[str, Any] = {
    "name": "own-data",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 2},
}


def app_client(tmp_path: Path, **settings: Any) -> TestClient:
    config = Settings(database_url=f"sqlite:///{tmp_path / 'hpo.db'}", **settings)
    return TestClient(create_app(config))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with app_client(tmp_path) as c:
        yield c


def create(client: TestClient, dataset: str, path: str = "/api/v1/studies") -> Any:
    body: dict[str, Any] = {**SPEC, "task": {**SPEC["task"], "dataset": dataset}}
    if path.endswith("comparisons"):
        body = {**body, "samplers": ["random"], "repeats": 1}
        del body["sampler"], body["budget"]
        body["n_trials"] = 2
    return client.post(path, json=body)


@pytest.mark.parametrize(
    "dataset",
    [
        "csv:/proc/self/cmdline?label=x",
        "csv:/etc/passwd?label=x",
        "/etc/data.csv?label=x",
        "npz:/proc/self/environ",
        "csv:../secret.csv?label=x",
        "csv:a/../../secret.csv?label=x",
        "csv:~root/x.csv?label=x",
        "npz:~/x.npz",
    ],
)
def test_paths_no_worker_should_read_are_refused_at_creation(
    client: TestClient, dataset: str
) -> None:
    for route in ("/api/v1/studies", "/api/v1/comparisons"):
        response = create(client, dataset, route)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert detail.startswith("task.dataset:") and "--data-root" in detail, detail
    assert client.get("/api/v1/studies").json() == []
    assert client.get("/api/v1/comparisons").json() == []


def test_without_roots_relative_paths_and_built_ins_are_accepted(client: TestClient) -> None:
    for dataset in ("digits", "csv:iris.csv?label=species", "npz:sets/mine.npz", "x.csv?label=y"):
        assert create(client, dataset).status_code == 201, dataset
    assert "HPO_DATASET_ROOTS: none set" in create(client, "csv:/srv/a.csv?label=y").text


def test_absolute_paths_inside_a_configured_root_are_accepted(tmp_path: Path) -> None:
    with app_client(tmp_path, dataset_roots="/srv/data:/mnt/shared") as client:
        assert create(client, "csv:/srv/data/iris.csv?label=y").status_code == 201
        assert create(client, "npz:/mnt/shared/sets/a.npz").status_code == 201
        refused = create(client, "csv:/srv/database/x.csv?label=y")  # a prefix is not a folder
        assert refused.status_code == 422
        assert "/srv/data, /mnt/shared" in refused.json()["detail"]
        assert create(client, "csv:/srv/data/../etc/x.csv?label=y").status_code == 422


def test_dataset_roots_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="not an absolute path"):
        Settings(dataset_roots="data")
