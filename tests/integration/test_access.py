"""Access control over every route the app serves, derived from `app.routes`.

The table below classifies each (method, path) as "admin" (only the admin token), "worker"
(the worker or the admin token) or "open" (no token needed). A route the table does not
classify fails the test, so a new route (the web UI's included) must be added here, on
purpose, with the access it deserves.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api.app import create_app
from hpo.settings import Settings

pytestmark = pytest.mark.integration

ADMIN, WORKER = "admin-Zq8v1", "worker-Yx3k7"

ACCESS: dict[tuple[str, str], str] = {
    # studies: reads are open, every change needs the admin token
    ("POST", "/api/v1/studies"): "admin",
    ("GET", "/api/v1/studies"): "open",
    ("GET", "/api/v1/studies/{study_id}"): "open",
    ("PATCH", "/api/v1/studies/{study_id}"): "admin",
    ("DELETE", "/api/v1/studies/{study_id}"): "admin",
    ("GET", "/api/v1/studies/{study_id}/trials"): "open",
    ("POST", "/api/v1/studies/{study_id}/trials"): "admin",
    ("GET", "/api/v1/studies/{study_id}/leaderboard"): "open",
    ("GET", "/api/v1/studies/{study_id}/best"): "open",
    # analytics for the web UI: reads of what the trials list already shows
    ("GET", "/api/v1/studies/{study_id}/curves"): "open",
    ("GET", "/api/v1/studies/{study_id}/importance"): "open",
    ("GET", "/api/v1/studies/{study_id}/plots"): "open",
    # ask/tell is the user's own code acting as optimizer client: admin
    ("POST", "/api/v1/studies/{study_id}/ask"): "admin",
    ("POST", "/api/v1/trials/{trial_id}/tell"): "admin",
    # the worker protocol
    ("POST", "/api/v1/workers/claim"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/heartbeat"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/reports"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/complete"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/complete-and-claim"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/fail"): "worker",
    # comparisons: creating one creates studies; changing or deleting one changes them
    ("POST", "/api/v1/comparisons"): "admin",
    ("GET", "/api/v1/comparisons"): "open",
    ("GET", "/api/v1/comparisons/{comparison_id}"): "open",
    ("PATCH", "/api/v1/comparisons/{comparison_id}"): "admin",
    ("DELETE", "/api/v1/comparisons/{comparison_id}"): "admin",
    ("PUT", "/api/v1/comparisons/{comparison_id}/final/{sampler}"): "admin",
    # system and documentation
    ("GET", "/healthz"): "open",
    ("GET", "/metrics"): "open",
    ("GET", "/openapi.json"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/docs/oauth2-redirect"): "open",
    ("GET", "/redoc"): "open",
}
# Web UI pages and assets are reads of what the API already shows openly: every GET outside
# /api/ that is not listed above is a page or an asset, and open. Anything else must be listed.
UI_PREFIXES = ("/", "/ui", "/static", "/assets")

SPEC: dict[str, Any] = {
    "name": "access",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 50, "max_parallel": 10},
}


def served_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app answers, HEAD folded into GET; a mounted app
    (static files) counts as a GET of its path."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        path = context.path_format or context.path or ""
        if isinstance(context.route, Mount):
            found.add(("GET", path or "/"))
            continue
        for method in context.methods or {"GET"}:
            if method != "HEAD":
                found.add((method, path))
    return sorted(found)


def access_of(method: str, path: str) -> str | None:
    if (method, path) in ACCESS:
        return ACCESS[(method, path)]
    if method == "GET" and not path.startswith("/api/") and path.startswith(UI_PREFIXES):
        return "open"
    return None


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'hpo.db'}", api_token=ADMIN, worker_token=WORKER
    )  # type: ignore[arg-type]
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def test_every_served_route_is_classified(app: FastAPI) -> None:
    routes = served_routes(app)
    unclassified = [f"{m} {p}" for m, p in routes if access_of(m, p) is None]
    assert not unclassified, f"routes missing from the access table in {__file__}: {unclassified}"
    # The worker protocol and study writes are all there (the table is not trivially empty).
    kinds = {access_of(m, p) for m, p in routes}
    assert kinds == {"admin", "worker", "open"}


def fill(path: str, ids: dict[str, int]) -> str:
    """A concrete path: {study_id} and {trial_id} become real rows; other parameters 1."""
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: str(ids.get(m.group(1), 1)), path)


@pytest.mark.parametrize("token", [None, "wrong-token", WORKER, ADMIN])
def test_every_route_by_every_token(app: FastAPI, client: TestClient, token: str | None) -> None:
    """Admin routes take only the admin token (worker: 403, none or wrong: 401); worker routes
    either token; open routes need none. An allowed request never answers 401/403 or 5xx."""
    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    lease = client.post(
        "/api/v1/workers/claim", json={"worker_id": "access"}, headers=auth(WORKER)
    ).json()
    ids = {"study_id": study["id"], "trial_id": lease["trial_id"]}
    routes = served_routes(app)
    # DELETE last, so the study exists for every other route.
    routes.sort(key=lambda route: route[0] == "DELETE")
    for method, template in routes:
        kind = access_of(method, template)
        response = client.request(method, fill(template, ids), headers=auth(token), json={})
        case = f"{method} {template} with {token}: {response.status_code} {response.text[:300]}"
        allowed = kind == "open" or token == ADMIN or (kind == "worker" and token == WORKER)
        if allowed:
            assert response.status_code not in (401, 403), case
            assert response.status_code < 500, case
        elif token == WORKER:
            assert response.status_code == 403, case
            assert "worker token" in response.json()["detail"], case
        else:
            assert response.status_code == 401, case
            assert response.headers["www-authenticate"] == "Bearer", case
            assert "token" in response.json()["detail"], case


def test_a_worker_token_cannot_create_change_or_delete_studies(client: TestClient) -> None:
    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    sid = study["id"]
    w = auth(WORKER)
    attempts = [
        client.post("/api/v1/studies", json={**SPEC, "name": "by-worker"}, headers=w),
        client.patch(f"/api/v1/studies/{sid}", json={"action": "cancel"}, headers=w),
        client.patch(f"/api/v1/studies/{sid}", json={"n_trials": 1}, headers=w),
        client.delete(f"/api/v1/studies/{sid}", headers=w),
        client.post(f"/api/v1/studies/{sid}/trials", json={"params": {"lr": 0.01}}, headers=w),
        client.post(f"/api/v1/studies/{sid}/ask", json={}, headers=w),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    after = client.get(f"/api/v1/studies/{sid}").json()
    assert (after["state"], after["n_trials"]) == ("running", 50)
    assert sum(after["counts"].values()) == 0  # no trial enqueued or asked
    assert [s["name"] for s in client.get("/api/v1/studies").json()] == ["access"]


def test_token_check_does_not_accept_near_misses(client: TestClient) -> None:
    """A prefix, a suffix, other case, another scheme, or the token twice are all refused."""
    for header in (
        f"Bearer {ADMIN[:-1]}",
        f"Bearer {ADMIN}x",
        f"Bearer {ADMIN.upper()}",
        f"Basic {ADMIN}",
        f"Bearer {ADMIN} {ADMIN}",
        ADMIN,
        "Bearer",
    ):
        response = client.post("/api/v1/studies", json=SPEC, headers={"Authorization": header})
        assert response.status_code == 401, (header, response.text)
    assert client.get("/api/v1/studies").json() == []


def test_only_a_worker_token_set_still_refuses_it_for_admin_routes(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", worker_token=WORKER)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/v1/studies", json=SPEC, headers=auth(WORKER))
        assert response.status_code == 403, response.text
        assert client.get("/api/v1/studies").json() == []


def test_tokens_are_compared_in_constant_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bearer tokens and lease tokens both go through hmac.compare_digest (a timing test would
    be flaky; a spy on the function sees what it is given)."""
    import hmac

    compared: list[object] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.extend((a, b))
        return real(a, b)

    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    lease = client.post("/api/v1/workers/claim", json={"worker_id": "ct"}, headers=auth(WORKER))
    token = lease.json()["lease_token"]
    monkeypatch.setattr(hmac, "compare_digest", spy)
    client.get(f"/api/v1/studies/{study['id']}")
    client.patch(f"/api/v1/studies/{study['id']}", json={"n_trials": 60}, headers=auth(ADMIN))
    assert ADMIN.encode() in compared or ADMIN in compared
    compared.clear()
    body = {"lease_token": token, "value": 0.5}
    done = client.post(f"/api/v1/trials/{lease.json()['trial_id']}/complete", json=body,
                       headers=auth(WORKER))  # fmt: skip
    assert done.status_code == 200
    assert WORKER.encode() in compared or WORKER in compared
    assert token in compared or token.encode() in compared
