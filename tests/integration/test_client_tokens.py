"""Per-study client tokens (ask/tell without the admin token), on both databases: made at
creation with `client_token: true`, shown once, stored as a sha256; they ask, tell, report and
heartbeat for their own study and nothing else, with messages that say what to use instead."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from api.app import create_app
from hpo.settings import Settings

pytestmark = pytest.mark.integration

ADMIN, WORKER, READ = "admin-client-tests", "worker-client-tests", "read-client-tests"
SPEC: dict[str, Any] = {
    "name": "own-code",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 3},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "pruner": "none",
    "budget": {"n_trials": 20, "max_parallel": 5},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        api_token=ADMIN,  # type: ignore[arg-type]
        worker_token=WORKER,  # type: ignore[arg-type]
        read_token=READ,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings)) as c:
        yield c


def create(client: TestClient, **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/studies", json={**SPEC, **extra}, headers=auth(ADMIN))
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_token_is_shown_once_and_only_its_hash_is_stored(
    client: TestClient, database_url: str
) -> None:
    plain = create(client)
    assert plain["client_token"] is None
    study = create(client, client_token=True)
    token = study["client_token"]
    assert token.startswith("hpoc_") and len(token) > 40
    assert "client_token" not in study["spec"]  # an instruction, not part of the study
    for path in (f"/api/v1/studies/{study['id']}", "/api/v1/studies"):
        assert token not in client.get(path, headers=auth(READ)).text
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT * FROM studies")).mappings().all()
    finally:
        engine.dispose()
    stored = {row["id"]: row["client_token_hash"] for row in rows}
    assert stored == {plain["id"]: None, study["id"]: hashlib.sha256(token.encode()).hexdigest()}
    assert all(token not in str(dict(row)) for row in rows)
    # Two studies never share a token.
    assert create(client, client_token=True)["client_token"] != token


def test_a_client_token_asks_reports_and_tells_for_its_own_study(client: TestClient) -> None:
    study = create(client, client_token=True)
    me = auth(study["client_token"])
    asked = client.post(f"/api/v1/studies/{study['id']}/ask", json={}, headers=me)
    assert asked.status_code == 201, asked.text
    trial, lease = asked.json()["trial_id"], asked.json()["lease_token"]
    beat = client.post(f"/api/v1/trials/{trial}/heartbeat", json={"lease_token": lease}, headers=me)
    assert beat.status_code == 200, beat.text
    body = {"lease_token": lease, "step": 1, "value": 0.4}
    assert client.post(f"/api/v1/trials/{trial}/reports", json=body, headers=me).status_code == 200
    told = client.post(f"/api/v1/trials/{trial}/tell", json={"lease_token": lease, "value": 0.7},
                       headers=me)  # fmt: skip
    assert told.status_code == 200, told.text
    assert (told.json()["state"], told.json()["value"]) == ("completed", 0.7)


def test_a_client_token_opens_nothing_else(client: TestClient) -> None:
    mine, theirs = create(client, client_token=True), create(client, client_token=True)
    me = auth(mine["client_token"])
    # Another study's trial, asked by the admin: its lease token would not even be needed to
    # be refused.
    other = client.post(f"/api/v1/studies/{theirs['id']}/ask", json={}, headers=auth(ADMIN))
    other_trial, other_lease = other.json()["trial_id"], other.json()["lease_token"]
    own = client.post(f"/api/v1/studies/{mine['id']}/ask", json={}, headers=me).json()
    refused = {
        "ask another study": client.post(
            f"/api/v1/studies/{theirs['id']}/ask", json={}, headers=me
        ),
        "tell another study's trial": client.post(
            f"/api/v1/trials/{other_trial}/tell",
            json={"lease_token": other_lease, "value": 0.1},
            headers=me,
        ),
        "report on another study's trial": client.post(
            f"/api/v1/trials/{other_trial}/reports",
            json={"lease_token": other_lease, "step": 1, "value": 0.1},
            headers=me,
        ),
        "claim": client.post("/api/v1/workers/claim", json={"worker_id": "x"}, headers=me),
        "complete": client.post(
            f"/api/v1/trials/{own['trial_id']}/complete",
            json={"lease_token": own["lease_token"], "value": 0.5},
            headers=me,
        ),
        "change its study": client.patch(
            f"/api/v1/studies/{mine['id']}", json={"n_trials": 1}, headers=me
        ),
        "enqueue": client.post(
            f"/api/v1/studies/{mine['id']}/trials", json={"params": {"lr": 0.01}}, headers=me
        ),
        "create": client.post("/api/v1/studies", json=SPEC, headers=me),
        "read": client.get(f"/api/v1/studies/{mine['id']}", headers=me),
    }
    for what, response in refused.items():
        assert response.status_code == 403, (what, response.text)
        detail = response.json()["detail"]
        assert f"study {mine['id']}'s client token" in detail, (what, detail)
    assert "use that study's client token" in refused["ask another study"].json()["detail"]
    assert f"is in study {theirs['id']}" in refused["tell another study's trial"].json()["detail"]
    # Nothing changed: the other study's trial still runs, ours too, the budget is intact.
    view = client.get(f"/api/v1/studies/{theirs['id']}/trials", headers=auth(READ)).json()
    assert [t["state"] for t in view["items"]] == ["running"]
    assert client.get(f"/api/v1/studies/{mine['id']}", headers=auth(READ)).json()["n_trials"] == 20


def test_a_deleted_studys_token_is_a_wrong_token(client: TestClient) -> None:
    study = create(client, client_token=True)
    client.delete(f"/api/v1/studies/{study['id']}", headers=auth(ADMIN))
    response = client.post(
        f"/api/v1/studies/{study['id']}/ask", json={}, headers=auth(study["client_token"])
    )
    assert response.status_code == 401, response.text
    assert "HPO_API_TOKEN" in response.json()["detail"]
