"""The REST API in-process (FastAPI's TestClient over a real database): bad input answers
4xx with a message, unknown ids 404, and tokens are enforced on every route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.settings import Settings

pytestmark = pytest.mark.integration

ADMIN, WORKER = "admin-secret", "worker-secret"
SPEC: dict[str, Any] = {
    "name": "api-test",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 5, "max_parallel": 2},
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        api_token=ADMIN,  # type: ignore[arg-type]
        worker_token=WORKER,  # type: ignore[arg-type]
        max_request_bytes=65_536,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


BAD_SPECS = [
    ({**SPEC, "budget": {"n_trials": 0}}, "n_trials"),
    ({**SPEC, "budget": {"n_trials": -5}}, "n_trials"),
    ({**SPEC, "task": {"model": "rnn", "dataset": "digits"}}, "task.model"),
    ({**SPEC, "task": {"model": "mlp", "dataset": "digits", "epochs": 10**9}}, "epochs"),
    ({**SPEC, "space": {"lr": {"type": "float", "low": 1, "high": 0}}}, "low"),
    ({**SPEC, "space": {"lr": {"type": "float", "low": 0, "high": 1, "log": True}}}, "log"),
    ({**SPEC, "space": {"c": {"type": "categorical", "choices": []}}}, "choices"),
    ({**SPEC, "space": {"c": {"type": "categorical", "choices": [1, 1]}}}, "twice"),
    ({**SPEC, "space": {"x": {"type": "complex"}}}, "type"),
    ({**SPEC, "sampler": "simulated-annealing"}, "unknown sampler"),
    ({**SPEC, "pruner": "hyperband"}, "pruner"),
    ({**SPEC, "pruner": {"name": "asha", "options": {"eta": 3}}}, "option"),
    ({**SPEC, "fixed": {"lr": 0.1}}, "both searched"),
    ({**SPEC, "n_trial": 5}, "unknown field"),
    ({k: v for k, v in SPEC.items() if k != "task"}, "task"),
]


def test_bad_specs_answer_4xx_with_a_message_and_create_nothing(client: TestClient) -> None:
    for body, needle in BAD_SPECS:
        response = client.post("/api/v1/studies", json=body, headers=auth(ADMIN))
        assert response.status_code in (400, 422), response.text
        assert needle.lower() in response.json()["detail"].lower(), (needle, response.text)
    assert client.get("/api/v1/studies", headers=auth(ADMIN)).json() == []


def test_unknown_ids_are_404_with_a_message(client: TestClient) -> None:
    for method, path in [
        ("GET", "/api/v1/studies/999"),
        ("GET", "/api/v1/studies/999/leaderboard"),
        ("GET", "/api/v1/studies/999/best"),
        ("DELETE", "/api/v1/studies/999"),
    ]:
        response = client.request(method, path, headers=auth(ADMIN))
        assert response.status_code == 404, path
        assert "999" in response.json()["detail"]
    body = {"lease_token": "x", "value": 1.0}
    response = client.post("/api/v1/trials/999/complete", json=body, headers=auth(WORKER))
    assert response.status_code == 404


def test_oversized_body_is_413(client: TestClient) -> None:
    body = {**SPEC, "name": "x" * 100_000}
    response = client.post("/api/v1/studies", json=body, headers=auth(ADMIN))
    assert response.status_code == 413
    assert "HPO_MAX_REQUEST_BYTES" in response.json()["detail"]


# route -> who may call it: "admin" routes take only the admin token; "worker" routes take
# either; "open" routes need none.
ROUTES = [
    ("POST", "/api/v1/studies", "admin"),
    ("PATCH", "/api/v1/studies/{study}", "admin"),
    ("DELETE", "/api/v1/studies/{study}", "admin"),
    ("POST", "/api/v1/studies/{study}/trials", "admin"),
    ("POST", "/api/v1/studies/{study}/ask", "admin"),
    ("POST", "/api/v1/trials/{trial}/tell", "admin"),
    ("POST", "/api/v1/workers/claim", "worker"),
    ("POST", "/api/v1/trials/{trial}/heartbeat", "worker"),
    ("POST", "/api/v1/trials/{trial}/reports", "worker"),
    ("POST", "/api/v1/trials/{trial}/complete", "worker"),
    ("POST", "/api/v1/trials/{trial}/complete-and-claim", "worker"),
    ("POST", "/api/v1/trials/{trial}/fail", "worker"),
    # Reads take the read scope (this server has no read token: the admin's).
    ("GET", "/api/v1/studies", "read"),
    ("GET", "/api/v1/studies/{study}", "read"),
    ("GET", "/api/v1/studies/{study}/trials", "read"),
    ("GET", "/api/v1/studies/{study}/leaderboard", "read"),
    ("GET", "/healthz", "open"),
    ("GET", "/metrics", "read"),
]


def test_tokens_are_enforced_on_every_route(client: TestClient) -> None:
    """Every route x every kind of token: admin routes and reads take only the admin token
    here, worker routes either token, open routes none; refusals say which token is needed."""
    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    checked = 0
    for method, template, kind in ROUTES:
        for token in (None, "wrong", WORKER, ADMIN):
            path = template.format(study=study["id"], trial=1)
            response = client.request(method, path, headers=auth(token), json={})
            case = f"{method} {path} with {token}: {response.status_code} {response.text}"
            allowed = kind == "open" or token == ADMIN or (kind == "worker" and token == WORKER)
            if allowed:
                # Through the auth check: whatever the empty body deserves, never 401/403.
                assert response.status_code not in (401, 403), case
            elif token is None or token == "wrong":
                assert response.status_code == 401, case
                assert "Bearer" in response.json()["detail"] or "token" in response.json()["detail"]
            else:
                assert response.status_code == 403, case
                assert "worker token" in response.json()["detail"], case
            checked += 1
    assert checked == 4 * len(ROUTES)


def test_worker_protocol_over_http(client: TestClient) -> None:
    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    w = auth(WORKER)
    lease = client.post("/api/v1/workers/claim", json={"worker_id": "w1"}, headers=w).json()
    trial = lease["trial_id"]
    assert lease["config"]["task"]["model"] == "mlp"
    report = {"lease_token": lease["lease_token"], "step": 1, "value": 0.4}
    assert client.post(f"/api/v1/trials/{trial}/reports", json=report, headers=w).json() == {
        "should_prune": False
    }
    nan = client.post(
        f"/api/v1/trials/{trial}/complete",
        content=b'{"lease_token": "%s", "value": NaN}' % lease["lease_token"].encode(),
        headers={**w, "content-type": "application/json"},
    )
    assert nan.status_code == 422
    stale = {"lease_token": "stale", "value": 0.5}
    assert client.post(f"/api/v1/trials/{trial}/complete", json=stale, headers=w).status_code == 409
    done = {"lease_token": lease["lease_token"], "value": 0.5}
    assert client.post(f"/api/v1/trials/{trial}/complete", json=done, headers=w).status_code == 200
    board = client.get(f"/api/v1/studies/{study['id']}/leaderboard", headers=auth(ADMIN)).json()
    assert [row["value"] for row in board] == [0.5]
    best_yaml = client.get(f"/api/v1/studies/{study['id']}/best?format=yaml", headers=auth(ADMIN))
    assert best_yaml.headers["content-type"].startswith("application/yaml")
    assert "params:" in best_yaml.text
    metrics = client.get("/metrics", headers=auth(ADMIN)).text
    assert 'hpo_trials{state="completed"} 1' in metrics
    assert "hpo_claims_total 1" in metrics
    client.patch(f"/api/v1/studies/{study['id']}", json={"n_trials": 1}, headers=auth(ADMIN))
    none_left = client.post("/api/v1/workers/claim", json={"worker_id": "w1"}, headers=w)
    assert none_left.status_code == 204


def test_complete_and_claim_over_http(client: TestClient) -> None:
    """One request per trial for a worker that goes on: the result, and the next lease (null
    when there is no work); the same 409 as complete for a stale token."""
    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    w = auth(WORKER)
    lease = client.post("/api/v1/workers/claim", json={"worker_id": "w1"}, headers=w).json()
    numbers = [lease["number"]]
    for value in (0.1, 0.2, 0.3, 0.4):
        body = {"lease_token": lease["lease_token"], "value": value, "worker_id": "w1"}
        answer = client.post(
            f"/api/v1/trials/{lease['trial_id']}/complete-and-claim", json=body, headers=w
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["trial"]["value"] == value
        assert answer.json()["trial"]["state"] == "completed"
        lease = answer.json()["next"]
        assert lease["config"]["task"]["model"] == "mlp"
        numbers.append(lease["number"])
    assert numbers == [0, 1, 2, 3, 4]
    stale = {"lease_token": "stale", "value": 0.5, "worker_id": "w1"}
    refused = client.post(
        f"/api/v1/trials/{lease['trial_id']}/complete-and-claim", json=stale, headers=w
    )
    assert refused.status_code == 409 and "lease token" in refused.json()["detail"]
    last = {"lease_token": lease["lease_token"], "value": 0.5, "worker_id": "w1"}
    answer = client.post(
        f"/api/v1/trials/{lease['trial_id']}/complete-and-claim", json=last, headers=w
    ).json()
    assert answer["next"] is None  # n_trials 5: the budget is used
    final = client.get(f"/api/v1/studies/{study['id']}", headers=auth(ADMIN)).json()
    assert final["state"] == "completed"


def test_openapi_lists_every_path(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for _, template, _ in ROUTES:
        assert template.replace("{study}", "{study_id}").replace("{trial}", "{trial_id}") in paths


def test_the_server_keeps_a_pool_sized_for_its_threads_and_telemetry_off(
    database_url: str, backend: str
) -> None:
    """PostgreSQL: 20 kept connections (+20 in a burst) instead of SQLAlchemy's 5, which a
    busy server kept opening and closing; FastAPI's OpenTelemetry only when asked for."""
    settings = Settings(database_url=database_url, database_pool_size=7)
    app = create_app(settings)
    with TestClient(app):
        pool = app.state.service.db.engine.pool
        if backend == "postgresql":
            assert (pool.size(), pool._max_overflow) == (7, 20)
    assert app._telemetry["tracing"] is False and app._telemetry["metrics"] is False
    traced = create_app(Settings(database_url=database_url, opentelemetry=True))
    assert traced._telemetry["tracing"] is True
