"""Access control over every route the app serves, derived from `app.routes`.

The table below classifies each (method, path) as "admin" (only the admin token), "worker"
(the worker or the admin token), "read" (the read or the admin token, or anyone in public-read
mode or with no token configured), "worker+client" / "admin+client" (also the study's own
client token) or "open" (no token needed). A route the table does not classify fails the test,
so a new route (the web UI's included) must be added here, on purpose, with the access it
deserves.
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

ADMIN, WORKER, READ = "admin-Zq8v1", "worker-Yx3k7", "read-Pw4n2"
# Stand-ins in the parametrized table, replaced by the real per-study tokens in the test.
OWN_CLIENT, OTHER_CLIENT = "<own study's client token>", "<another study's client token>"

ACCESS: dict[tuple[str, str], str] = {
    # studies: reads take the read scope, every change needs the admin token
    ("POST", "/api/v1/studies"): "admin",
    ("GET", "/api/v1/studies"): "read",
    ("GET", "/api/v1/studies/{study_id}"): "read",
    ("PATCH", "/api/v1/studies/{study_id}"): "admin",
    ("DELETE", "/api/v1/studies/{study_id}"): "admin",
    ("PATCH", "/api/v1/trials/{trial_id}"): "admin",
    ("GET", "/api/v1/studies/{study_id}/trials"): "read",
    ("POST", "/api/v1/studies/{study_id}/trials"): "admin",
    ("GET", "/api/v1/studies/{study_id}/leaderboard"): "read",
    ("GET", "/api/v1/studies/{study_id}/best"): "read",
    # analytics for the web UI: reads of what the trials list already shows
    ("GET", "/api/v1/studies/{study_id}/curves"): "read",
    ("GET", "/api/v1/studies/{study_id}/importance"): "read",
    ("GET", "/api/v1/studies/{study_id}/pareto"): "read",
    ("GET", "/api/v1/studies/{study_id}/hypervolume"): "read",
    ("GET", "/api/v1/studies/{study_id}/plots"): "read",
    # ask/tell is the user's own code acting as optimizer client: admin, or the study's own
    # client token
    ("POST", "/api/v1/studies/{study_id}/ask"): "admin+client",
    ("POST", "/api/v1/trials/{trial_id}/tell"): "admin+client",
    # the worker protocol; heartbeat and reports also serve an asked trial's client
    ("POST", "/api/v1/workers/claim"): "worker",
    ("GET", "/api/v1/workers"): "admin",
    ("POST", "/api/v1/trials/{trial_id}/heartbeat"): "worker+client",
    ("POST", "/api/v1/trials/{trial_id}/reports"): "worker+client",
    ("POST", "/api/v1/trials/{trial_id}/complete"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/complete-and-claim"): "worker",
    ("POST", "/api/v1/trials/{trial_id}/fail"): "worker",
    # logs and artifacts: the attempt holding the lease writes (its lease token checked by the
    # route); reads take the read scope, and a worker reads a trial's artifacts (restoring its
    # checkpoint) only with that trial's lease token
    ("POST", "/api/v1/trials/{trial_id}/logs"): "worker+client",
    ("GET", "/api/v1/trials/{trial_id}/logs"): "read",
    ("GET", "/api/v1/trials/{trial_id}/artifacts"): "read",
    ("GET", "/api/v1/trials/{trial_id}/artifacts/{name}"): "read",
    ("PUT", "/api/v1/trials/{trial_id}/artifacts/{name}"): "worker+client",
    # comparisons: creating one creates studies; changing or deleting one changes them
    ("POST", "/api/v1/comparisons"): "admin",
    ("GET", "/api/v1/comparisons"): "read",
    ("GET", "/api/v1/comparisons/{comparison_id}"): "read",
    ("PATCH", "/api/v1/comparisons/{comparison_id}"): "admin",
    ("DELETE", "/api/v1/comparisons/{comparison_id}"): "admin",
    ("PUT", "/api/v1/comparisons/{comparison_id}/final/{sampler}"): "admin",
    # system and documentation: a load balancer's health check has no token; the metrics
    # (trial counts, request figures) are a read like the others
    ("GET", "/healthz"): "open",
    ("GET", "/metrics"): "read",
    ("GET", "/openapi.json"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/docs/oauth2-redirect"): "open",
    ("GET", "/redoc"): "open",
}
# Web UI pages and assets hold no data (their scripts fetch it with the signed-in token):
# every GET outside /api/ that is not listed above is a page or an asset, and open. Anything
# else must be listed.
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


def make_app(tmp_path: Path, **settings: Any) -> FastAPI:
    url = f"sqlite:///{tmp_path / 'hpo.db'}"
    return create_app(Settings(database_url=url, **settings))


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    return make_app(tmp_path, api_token=ADMIN, worker_token=WORKER, read_token=READ)


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
    assert kinds == {"admin", "worker", "read", "open", "admin+client", "worker+client"}


def fill(path: str, ids: dict[str, int]) -> str:
    """A concrete path: {study_id} and {trial_id} become real rows; other parameters 1."""
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: str(ids.get(m.group(1), 1)), path)


def allowed(kind: str, token: str | None, *, public_read: bool = False) -> bool:
    return (
        kind == "open"
        or token == ADMIN
        or (kind == "read" and (token == READ or public_read))
        or (kind in ("worker", "worker+client") and token == WORKER)
        or (kind.endswith("+client") and token == OWN_CLIENT)
    )


# What a refusal of a known token without the right must say (403); others are 401.
REFUSED_BECAUSE = {
    WORKER: "worker token",
    READ: "read token",
    OWN_CLIENT: "client token",
    OTHER_CLIENT: "client token",
}


def check_every_route(
    app: FastAPI, client: TestClient, token: str | None, *, public_read: bool = False
) -> None:
    """Each route with `token` (OWN_CLIENT / OTHER_CLIENT: a study's client token): allowed
    requests never answer 401/403 or 5xx; refused ones 403 for a known token without the right
    (saying which), 401 for none or a wrong one."""
    own = client.post("/api/v1/studies", json={**SPEC, "client_token": True}, headers=auth(ADMIN))
    assert own.status_code == 201, own.text
    lease = client.post(
        "/api/v1/workers/claim", json={"worker_id": "access"}, headers=auth(WORKER)
    ).json()
    assert lease["study_id"] == own.json()["id"]
    # Created after the claim, so the claimed trial is the own study's.
    other = client.post("/api/v1/studies", json={**SPEC, "client_token": True}, headers=auth(ADMIN))
    real = {OWN_CLIENT: own.json()["client_token"], OTHER_CLIENT: other.json()["client_token"]}
    sent = real.get(token or "", token)
    ids = {"study_id": own.json()["id"], "trial_id": lease["trial_id"]}
    routes = served_routes(app)
    # DELETE last, so the study exists for every other route.
    routes.sort(key=lambda route: route[0] == "DELETE")
    for method, template in routes:
        kind = access_of(method, template)
        assert kind is not None
        response = client.request(method, fill(template, ids), headers=auth(sent), json={})
        case = f"{method} {template} with {token}: {response.status_code} {response.text[:300]}"
        if allowed(kind, token, public_read=public_read):
            assert response.status_code not in (401, 403), case
            assert response.status_code < 500, case
        elif token in REFUSED_BECAUSE:
            assert response.status_code == 403, case
            assert REFUSED_BECAUSE[token] in response.json()["detail"], case
        else:
            assert response.status_code == 401, case
            assert response.headers["www-authenticate"] == "Bearer", case
            assert "token" in response.json()["detail"], case


@pytest.mark.parametrize(
    "token", [None, "wrong-token", "hpoc_not-a-study-token", WORKER, READ, ADMIN, OWN_CLIENT,
              OTHER_CLIENT],
)  # fmt: skip
def test_every_route_by_every_token(app: FastAPI, client: TestClient, token: str | None) -> None:
    """Admin routes take only the admin token; reads the read or admin token; worker routes
    the worker or admin token; ask, tell, heartbeat and reports also the study's own client
    token; open routes need none."""
    check_every_route(app, client, token)


@pytest.mark.parametrize("token", [None, "wrong-token", WORKER, READ, ADMIN, OWN_CLIENT])
def test_public_read_opens_the_reads_and_nothing_else(tmp_path: Path, token: str | None) -> None:
    app = make_app(
        tmp_path, api_token=ADMIN, worker_token=WORKER, read_token=READ, public_read=True
    )
    with TestClient(app) as client:
        check_every_route(app, client, token, public_read=True)


def test_with_no_token_configured_every_read_stays_open(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        study = client.post("/api/v1/studies", json=SPEC).json()
        for path in ("/api/v1/studies", f"/api/v1/studies/{study['id']}/trials", "/metrics"):
            assert client.get(path).status_code == 200, path


def test_a_worker_sees_its_own_trial_and_no_one_elses(client: TestClient) -> None:
    """Worker ids and failure messages of other workers' trials are not shown to a worker:
    the listings refuse its token, while its own routes still answer with its own trial."""
    study = client.post("/api/v1/studies", json=SPEC, headers=auth(ADMIN)).json()
    w = auth(WORKER)
    victim = client.post("/api/v1/workers/claim", json={"worker_id": "victim-host"}, headers=w)
    failed = {"lease_token": victim.json()["lease_token"], "failure_class": "config",
              "message": "secret path /data/victim"}  # fmt: skip
    client.post(f"/api/v1/trials/{victim.json()['trial_id']}/fail", json=failed, headers=w)
    mine = client.post("/api/v1/workers/claim", json={"worker_id": "me"}, headers=w).json()
    sid = study["id"]
    for path in (f"/api/v1/studies/{sid}/trials", f"/api/v1/studies/{sid}/leaderboard",
                 f"/api/v1/studies/{sid}", "/api/v1/studies", f"/api/v1/studies/{sid}/plots",
                 f"/api/v1/studies/{sid}/curves"):  # fmt: skip
        response = client.get(path, headers=w)
        assert response.status_code == 403, (path, response.text)
        assert "victim" not in response.text
    done = client.post(f"/api/v1/trials/{mine['trial_id']}/complete", headers=w,
                       json={"lease_token": mine["lease_token"], "value": 0.5})  # fmt: skip
    assert done.status_code == 200 and done.json()["worker_id"] == "me"
    # The read token sees everything.
    trials = client.get(f"/api/v1/studies/{sid}/trials", headers=auth(READ)).json()["items"]
    assert {t["worker_id"] for t in trials} == {"victim-host", "me"}


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
    after = client.get(f"/api/v1/studies/{sid}", headers=auth(READ)).json()
    assert (after["state"], after["n_trials"]) == ("running", 50)
    assert sum(after["counts"].values()) == 0  # no trial enqueued or asked
    names = [s["name"] for s in client.get("/api/v1/studies", headers=auth(READ)).json()]
    assert names == ["access"]


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
        read = client.get("/api/v1/studies", headers={"Authorization": header})
        assert read.status_code == 401, (header, read.text)
    assert client.get("/api/v1/studies", headers=auth(ADMIN)).json() == []


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
    client.get(f"/api/v1/studies/{study['id']}", headers=auth(READ))
    assert READ.encode() in compared or READ in compared
    client.patch(f"/api/v1/studies/{study['id']}", json={"n_trials": 60}, headers=auth(ADMIN))
    assert ADMIN.encode() in compared or ADMIN in compared
    compared.clear()
    body = {"lease_token": token, "value": 0.5}
    done = client.post(f"/api/v1/trials/{lease.json()['trial_id']}/complete", json=body,
                       headers=auth(WORKER))  # fmt: skip
    assert done.status_code == 200
    assert WORKER.encode() in compared or WORKER in compared
    assert token in compared or token.encode() in compared
