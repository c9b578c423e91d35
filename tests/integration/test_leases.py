"""Leases under a hostile token holder, over HTTP on SQLite and PostgreSQL (issue 11: 1, 5, 6).

- A lease is only ever handed to the request that created it: a retried complete-and-claim
  gets its own first attempt's next lease back, and naming another worker (or "ask-tell") in
  the body gets nobody's.
- Lease and bearer tokens are compared as bytes: a non-ASCII, NUL or over-long token is a 4xx
  on every route that takes one, never a 500.
- A claim's fields are checked to the columns' limits before the claim joins a batch: a 422
  naming the field, and well-behaved claims around it all served.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.errors import LeaseError, ValidationError
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database
from tests.integration.conftest import run_together

pytestmark = pytest.mark.integration

ADMIN, WORKER = "admin-Kd93b", "worker-Mv27q"
SPEC: dict[str, Any] = {
    "name": "leases",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 40, "max_parallel": 40},
}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        api_token=ADMIN,  # type: ignore[arg-type]
        worker_token=WORKER,  # type: ignore[arg-type]
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def create_study(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/studies", json={**SPEC, **changes}, headers=auth(ADMIN))
    assert response.status_code == 201, response.text
    return dict(response.json())


def claim(client: TestClient, worker_id: str) -> dict[str, Any]:
    response = client.post(
        "/api/v1/workers/claim", json={"worker_id": worker_id}, headers=auth(WORKER)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def complete_and_claim(
    client: TestClient, lease: dict[str, Any], worker_id: str, value: float = 0.5
) -> Any:
    body = {"lease_token": lease["lease_token"], "value": value, "worker_id": worker_id}
    return client.post(
        f"/api/v1/trials/{lease['trial_id']}/complete-and-claim", json=body, headers=auth(WORKER)
    )


# -- 1. a lease goes only to the request that created it --------------------------------------
def test_naming_another_worker_in_a_retried_complete_and_claim_takes_nothing(
    client: TestClient,
) -> None:
    """The attack: complete your own trial, then send its complete-and-claim again (a retry of
    a complete that landed) naming a victim's worker id, or "ask-tell": the answer must never
    be the victim's lease, which its holder then completes as usual."""
    study = create_study(client)
    mine = claim(client, "attacker")
    victims = [claim(client, "victim-host")]
    asked = client.post(f"/api/v1/studies/{study['id']}/ask", headers=auth(ADMIN))
    assert asked.status_code == 201, asked.text
    victims.append(dict(asked.json()))
    body = {"lease_token": mine["lease_token"], "value": 0.5}
    url = f"/api/v1/trials/{mine['trial_id']}/complete"
    assert client.post(url, json=body, headers=auth(WORKER)).status_code == 200

    stolen_ids = {v["trial_id"] for v in victims}
    stolen_tokens = {v["lease_token"] for v in victims}
    for name in ("victim-host", "ask-tell", "attacker"):
        answer = complete_and_claim(client, mine, name)
        assert answer.status_code == 200, answer.text
        following = answer.json()["next"]
        if following is not None:
            assert following["trial_id"] not in stolen_ids, name
            assert following["lease_token"] not in stolen_tokens, name

    # The victims still hold their trials.
    done = {"lease_token": victims[0]["lease_token"], "value": 0.9}
    url = f"/api/v1/trials/{victims[0]['trial_id']}/complete"
    assert client.post(url, json=done, headers=auth(WORKER)).status_code == 200
    told = {"lease_token": victims[1]["lease_token"], "value": 0.8}
    url = f"/api/v1/trials/{victims[1]['trial_id']}/tell"
    assert client.post(url, json=told, headers=auth(ADMIN)).status_code == 200


def test_a_retry_after_a_lost_answer_gets_its_own_next_lease_again(client: TestClient) -> None:
    create_study(client)
    first_lease = claim(client, "w1")
    first = complete_and_claim(client, first_lease, "w1")
    assert first.status_code == 200, first.text
    following = first.json()["next"]
    assert following is not None
    claim(client, "w2")  # another worker's lease, newer than ours
    for name in ("w1", "w1", "someone-else"):  # bound to the request, not to a name
        again = complete_and_claim(client, first_lease, name)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
    # The retried lease is the real one: it completes.
    done = {"lease_token": following["lease_token"], "value": 0.7}
    url = f"/api/v1/trials/{following['trial_id']}/complete"
    assert client.post(url, json=done, headers=auth(WORKER)).status_code == 200
    # A retry with another value is not a retry.
    assert complete_and_claim(client, first_lease, "w1", value=0.1).status_code == 409


# -- 5. tokens compare as bytes ----------------------------------------------------------------
BAD_LEASE_TOKENS = ["é" * 10, "tok\u0000en", "\ud800", "x" * 129, "tab\tbed", "emoji-\U0001f600"]


def test_a_lease_token_that_is_no_token_is_a_422_on_every_route(client: TestClient) -> None:
    create_study(client)
    lease = claim(client, "w")
    trial = lease["trial_id"]
    routes: list[tuple[str, dict[str, Any], dict[str, str]]] = [
        ("heartbeat", {}, auth(WORKER)),
        ("reports", {"step": 1, "value": 0.1}, auth(WORKER)),
        ("complete", {"value": 0.5}, auth(WORKER)),
        ("complete-and-claim", {"value": 0.5, "worker_id": "w"}, auth(WORKER)),
        ("fail", {"failure_class": "oom"}, auth(WORKER)),
        ("tell", {"value": 0.5}, auth(ADMIN)),
    ]
    for route, body, headers in routes:
        for token in BAD_LEASE_TOKENS:
            # Raw JSON with escapes: a lone surrogate has no UTF-8 spelling, only "\\ud800".
            raw = json.dumps({**body, "lease_token": token})
            response = client.post(
                f"/api/v1/trials/{trial}/{route}", content=raw,
                headers={**headers, "content-type": "application/json"},
            )  # fmt: skip
            assert response.status_code == 422, (route, token, response.text)
            assert "lease_token" in response.json()["detail"], response.text
    # Nothing of that touched the trial: its real token still completes it.
    done = {"lease_token": lease["lease_token"], "value": 0.5}
    assert client.post(f"/api/v1/trials/{trial}/complete", json=done,
                       headers=auth(WORKER)).status_code == 200  # fmt: skip


def test_the_service_compares_any_lease_token_as_bytes(db: Database) -> None:
    """Below the API too (in-process callers): a non-ASCII token is a wrong token (409)."""
    service = Service(db, prepare_suggestions=False)
    service.studies.create(parse_study_spec(SPEC))
    lease = service.dispatch.claim("w")
    assert lease is not None
    for token in ("é", "\ud800", "tok\u0000"):
        with pytest.raises(LeaseError):
            service.dispatch.heartbeat(lease.trial_id, token)
        with pytest.raises(LeaseError):
            service.dispatch.complete(lease.trial_id, token, 0.5)
        with pytest.raises(LeaseError):
            service.dispatch.fail(lease.trial_id, token, "oom")


BAD_BEARERS = [
    "Bearer é-token".encode(),
    b"Bearer \xff\xfe",
    b"Bearer tok\x00en",
    b"Bearer hpoc_\xe9\x00",
]


def test_a_bearer_token_that_is_no_token_is_a_401_never_a_500(client: TestClient) -> None:
    study = create_study(client)
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", "/api/v1/workers/claim", {"worker_id": "w"}),
        ("POST", "/api/v1/trials/1/heartbeat", {"lease_token": "abc"}),
        ("POST", "/api/v1/trials/1/tell", {"lease_token": "abc", "value": 1.0}),
        ("POST", f"/api/v1/studies/{study['id']}/ask", None),
        ("PATCH", f"/api/v1/studies/{study['id']}", {"action": "pause"}),
        ("GET", f"/api/v1/studies/{study['id']}", None),
    ]
    for method, path, body in requests:
        for header in BAD_BEARERS:
            response = client.request(method, path, json=body, headers={"Authorization": header})
            assert response.status_code in (401, 403), (method, path, header, response.text)


# -- 6. claim fields checked before they join a batch ---------------------------------------
BAD_CLAIMS: list[tuple[dict[str, Any], str]] = [
    ({"worker_id": "w", "devices": ["d" * 100]}, "devices[0]"),
    ({"worker_id": "w", "devices": ["cpu", "cuda\u0000"]}, "devices[1]"),
    ({"worker_id": "w\u0000"}, "worker_id"),
    ({"worker_id": "w", "host": "host\u0000"}, "host"),
    ({"worker_id": "\u202eevil"}, "worker_id"),
    ({"worker_id": "w", "host": "h" * 256}, "host"),
]


def test_a_claim_the_database_cannot_store_is_a_422_naming_the_field(client: TestClient) -> None:
    create_study(client)
    held = claim(client, "holder")
    for body, field in BAD_CLAIMS:
        response = client.post("/api/v1/workers/claim", json=body, headers=auth(WORKER))
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["detail"], (field, response.text)
        # complete-and-claim checks them before completing anything.
        both = {**body, "lease_token": held["lease_token"], "value": 0.5}
        url = f"/api/v1/trials/{held['trial_id']}/complete-and-claim"
        response = client.post(url, json=both, headers=auth(WORKER))
        assert response.status_code == 422, (body, response.text)
        assert field in response.json()["detail"], (field, response.text)
    trials = client.get("/api/v1/studies", headers=auth(ADMIN)).json()[0]
    assert trials["counts"]["running"] == 1 and trials["counts"]["completed"] == 0


def test_bad_claims_among_concurrent_ones_fail_only_themselves(fresh_db: Database) -> None:
    """Sixteen claims at once, a quarter of them unstorable: every good one gets a trial."""
    service = Service(fresh_db)
    service.studies.create(parse_study_spec({**SPEC, "budget": {"n_trials": 100,
                                                               "max_parallel": 100}}))  # fmt: skip
    bad = [("w", "h", ("d" * 100,)), ("w\u0000", "h", ()), ("w", "h\u0000", ()), ("", "h", ())]

    def work(i: int) -> object:
        worker_id, host, devices = bad[i // 4] if i % 4 == 0 else (f"good-{i}", "h", ("cpu",))
        return service.dispatch.claim(worker_id, host=host, devices=devices)

    for _ in range(3):
        results = run_together(16, work)
        for i, result in enumerate(results):
            if i % 4 == 0:
                assert isinstance(result, ValidationError), result
            else:
                assert result is not None and not isinstance(result, Exception), result
