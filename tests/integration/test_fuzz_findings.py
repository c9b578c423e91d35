"""What the hostile fuzzer (tests/fuzz/test_hostile_fuzz.py) found beyond issue 11's list, one
test each, through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.service import Service
from hpo.settings import Settings
from hpo.storage import Database

pytestmark = pytest.mark.integration

ADMIN = {"authorization": "Bearer admin", "content-type": "application/json"}
TASK = {"model": "mlp", "dataset": "digits", "epochs": 1}
SPACE = {"lr": {"type": "float", "low": 0.001, "high": 0.1}}


@pytest.fixture
def client(fresh_db: Database) -> Iterator[TestClient]:
    settings = Settings(database_url=str(fresh_db.engine.url), api_token="admin")  # type: ignore[arg-type]
    app = create_app(settings, service=Service(fresh_db, lease_seconds=600))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def _post(client: TestClient, path: str, body: dict[str, Any]) -> Any:
    # json.dumps writes a lone surrogate as the escape \ud800, valid JSON that the server's
    # parser turns back into one.
    return client.post(path, content=json.dumps(body), headers=ADMIN)


@pytest.mark.parametrize("fixed", [{"x": "\ud800"}, {"\udfff": 1}, {"x": "ok\udc00ok"}])
def test_a_lone_surrogate_in_a_free_form_field_is_a_422_and_nothing_is_stored(
    client: TestClient, fixed: dict[str, Any]
) -> None:
    """Found by the fuzzer: `fixed: {"x": "\\ud800"}` was stored (201 on SQLite) and its
    answer failed to encode (500); a study or comparison create answered 500."""
    study = _post(client, "/api/v1/studies", {"name": "s", "task": TASK, "space": SPACE,
                                              "fixed": fixed})  # fmt: skip
    comparison = _post(client, "/api/v1/comparisons", {
        "name": "c", "task": TASK, "space": SPACE, "fixed": fixed,
        "samplers": [{"name": "random"}], "n_trials": 2, "repeats": 1,
    })  # fmt: skip
    for answer in (study, comparison):
        assert answer.status_code == 422, answer.text
        assert "lone surrogate" in answer.json()["detail"]
    listing = client.get("/api/v1/studies", headers=ADMIN)
    assert listing.status_code == 200 and listing.json() == []


def test_a_lone_surrogate_in_metrics_is_a_422(client: TestClient) -> None:
    created = _post(client, "/api/v1/studies", {"name": "s", "task": TASK, "space": SPACE})
    assert created.status_code == 201, created.text
    lease = _post(client, "/api/v1/workers/claim", {"worker_id": "w"}).json()
    answer = _post(client, f"/api/v1/trials/{lease['trial_id']}/complete", {
        "lease_token": lease["lease_token"], "value": 0.5, "metrics": {"m": "\ud800"},
    })  # fmt: skip
    assert answer.status_code == 422, answer.text
    trials = client.get(f"/api/v1/studies/{created.json()['id']}/trials", headers=ADMIN)
    assert trials.status_code == 200
