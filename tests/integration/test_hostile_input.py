"""Hostile input over HTTP, on SQLite and PostgreSQL: adversarial study specs each answer 4xx
with a message and create nothing; hostile worker reports are refused or recorded as defined
and never change the leaderboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.settings import Settings

pytestmark = pytest.mark.integration

BASE: dict[str, Any] = {
    "name": "hostile",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 10, "max_parallel": 4},
    "check_config": False,  # its params are not the trainers' (no trainer runs them)
}


def spec(**changes: Any) -> str:
    return json.dumps({**BASE, **changes})


def space(**params: Any) -> str:
    return spec(space=params)


def nested(depth: int) -> str:
    return spec().replace(
        '"sampler"', '"fixed": {"x": ' + "[" * depth + "]" * depth + '}, "sampler"'
    )


# name -> raw JSON body; each must be refused with a 4xx and a message, creating nothing.
ADVERSARIAL: dict[str, str] = {
    "huge grid (10 params x 100 points)": spec(
        sampler="grid", space={f"p{i}": {"type": "int", "low": 0, "high": 99} for i in range(10)}
    ),
    "grid_points 10**30": space(
        x={"type": "float", "low": 0, "high": 1, "grid_points": 10**30}
    ).replace('"random"', '"grid"'),
    "grid step 1e-300": space(x={"type": "float", "low": 0, "high": 1, "step": 1e-300}).replace(
        '"random"', '"grid"'
    ),
    "deep nesting (30 000 levels)": nested(30_000),
    "deep nesting in the space": space(x={"type": "int", "low": 0, "high": 1}).replace(
        '"high": 1}', '"high": 1, "extra": ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "}"
    ),
    "n_trials 10**40": spec(budget={"n_trials": 10**40}),
    "int bounds +-10**30": space(x={"type": "int", "low": -(10**30), "high": 10**30}),
    "float range overflows": space(x={"type": "float", "low": -1.7e308, "high": 1.7e308}),
    "1e400 (parses as inf)": space(x={"type": "float", "low": 0, "high": 1}).replace(
        '"high": 1', '"high": 1e400'
    ),
    "NaN bound": space(x={"type": "float", "low": 0, "high": 1}).replace('"low": 0', '"low": NaN'),
    "Infinity bound": space(x={"type": "float", "low": 0, "high": 1}).replace(
        '"high": 1', '"high": Infinity'
    ),
    "NaN in fixed": spec(fixed={"momentum": 0.5}).replace("0.5", "NaN"),
    "NaN n_trials": spec(budget={"n_trials": 5}).replace("5}", "NaN}"),
    "negative n_trials": spec(budget={"n_trials": -5}),
    "zero max_parallel": spec(budget={"max_parallel": 0}),
    "negative max_attempts": spec(budget={"max_attempts": -1}),
    "n_trials true": spec(budget={"n_trials": True}),
    "epochs 10**9": spec(task={"model": "mlp", "dataset": "digits", "epochs": 10**9}),
    "epochs 1e9 (a float)": spec(task={"model": "mlp", "dataset": "digits", "epochs": 1e9}),
    "seed 2**64": spec(seed=2**64),
    "NUL in the name": spec(name="study\u0000"),
    "bidi override in the name": spec(name="\u202etxt.exe"),
    "NUL in a parameter name": space(**{"lr\u0000": {"type": "float", "low": 0, "high": 1}}),
    "100 000-character parameter name": space(
        **{"p" * 100_000: {"type": "int", "low": 0, "high": 1}}
    ),
    "empty parameter name": space(**{"": {"type": "int", "low": 0, "high": 1}}),
    "name of 10 000 characters": spec(name="n" * 10_000),
    "empty name": spec(name=""),
    "nested choices": space(c={"type": "categorical", "choices": [{"a": [1]}, [2]]}),
    "duplicate choices (1 and 1.0)": space(c={"type": "categorical", "choices": [1, 1.0]}),
    "unknown sampler option": spec(sampler={"name": "tpe", "options": {"bogus": 1}}),
    "unknown lipo option": spec(sampler={"name": "lipo", "options": {"x": 1e308}}),
    "unknown field": spec(budgets={"n_trials": 5}),
    "space is a list": spec(space=[1, 2]),
    "body is an array": "[]",
    "body is null": "null",
    "body is not JSON": "{name: hostile",
    "body is a bare string": '"' + "x" * 1000 + '"',
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, max_request_bytes=1_048_576)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def post_raw(client: TestClient, body: str | bytes) -> Any:
    content = body.encode() if isinstance(body, str) else body
    return client.post(
        "/api/v1/studies", content=content, headers={"content-type": "application/json"}
    )


def test_adversarial_specs_answer_4xx_with_a_message_and_create_nothing(
    client: TestClient,
) -> None:
    answers = {}
    for name, body in ADVERSARIAL.items():
        response = post_raw(client, body)
        answers[name] = response.status_code
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text[:300])
        detail = response.json()["detail"]
        assert isinstance(detail, str) and len(detail) > 10, (name, detail)
    # Oversized, declared and streamed (no Content-Length): refused before parsing.
    big = spec(name="x" * 2_000_000)
    assert post_raw(client, big).status_code == 413
    streamed = client.post(
        "/api/v1/studies",
        content=iter([big[i : i + 65_536].encode() for i in range(0, len(big), 65_536)]),
        headers={"content-type": "application/json"},
    )
    assert streamed.status_code == 413, streamed.text[:200]
    assert client.get("/api/v1/studies").json() == [], "a refused spec created a study"
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    "name",
    ["résumé-étude", "研究 ハイパー", "🚀 rocket 👩‍🔬", "Ωμέγα", "a" * 200],
)
def test_unicode_names_round_trip(client: TestClient, name: str) -> None:
    body = {**BASE, "name": name, "space": {name[:50]: {"type": "int", "low": 0, "high": 3}}}
    created = client.post("/api/v1/studies", json=body)
    assert created.status_code == 201, created.text
    study = client.get(f"/api/v1/studies/{created.json()['id']}").json()
    assert study["name"] == name
    lease = client.post("/api/v1/workers/claim", json={"worker_id": "ü-wörker"}).json()
    assert list(lease["params"]) == [name[:50]]


def claim(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/v1/workers/claim", json={"worker_id": "w"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def post_json(client: TestClient, path: str, raw: str) -> Any:
    return client.post(path, content=raw.encode(), headers={"content-type": "application/json"})


def test_hostile_worker_reports_never_corrupt_the_leaderboard(client: TestClient) -> None:
    study = client.post("/api/v1/studies", json=BASE).json()
    a, b = claim(client), claim(client)
    ta, tb = a["lease_token"], b["lease_token"]
    url_a, url_b = f"/api/v1/trials/{a['trial_id']}", f"/api/v1/trials/{b['trial_id']}"

    # Non-finite values, in every spelling JSON parsers accept.
    for raw in ("NaN", "Infinity", "-Infinity", "1e999"):
        for path, body in (
            ("/reports", f'{{"lease_token": "{ta}", "step": 1, "value": {raw}}}'),
            ("/complete", f'{{"lease_token": "{ta}", "value": {raw}}}'),
        ):
            response = post_json(client, url_a + path, body)
            assert response.status_code == 422, (raw, path, response.text)
    # Non-finite metrics would break every later read of the trial (JSON has no NaN).
    nan_metrics = f'{{"lease_token": "{ta}", "value": 0.5, "metrics": {{"loss": NaN}}}}'
    assert post_json(client, url_a + "/complete", nan_metrics).status_code == 422

    # A token for another trial opens nothing.
    assert (
        client.post(url_a + "/complete", json={"lease_token": tb, "value": 9.0}).status_code == 409
    )
    report_b = {"lease_token": tb, "step": 1, "value": 9.0}
    assert client.post(url_a + "/reports", json=report_b).status_code == 409
    assert (
        client.post(url_a + "/fail", json={"lease_token": tb, "failure_class": "oom"}).status_code
        == 409
    )

    # Steps out of order are recorded; the latest step stays the highest.
    for step, value in ((3, 0.3), (1, 0.1), (2, 0.2), (3, 0.35)):
        report = {"lease_token": ta, "step": step, "value": value}
        assert client.post(url_a + "/reports", json=report).status_code == 200
    trial_a = client.get(f"/api/v1/studies/{study['id']}/trials").json()["items"]
    trial_a = next(t for t in trial_a if t["id"] == a["trial_id"])
    assert (trial_a["last_step"], trial_a["last_report_value"]) == (3, 0.35)
    for step in (-1, 10**7 + 1, 10**30):
        report = {"lease_token": ta, "step": step, "value": 0.1}
        assert client.post(url_a + "/reports", json=report).status_code == 422, step

    # Complete; a retry is a no-op; a different value, a report, a fail after it are refused.
    done = client.post(url_a + "/complete", json={"lease_token": ta, "value": 0.5})
    assert done.status_code == 200
    again = client.post(url_a + "/complete", json={"lease_token": ta, "value": 0.5})
    assert again.status_code == 200 and again.json() == done.json()
    other = client.post(url_a + "/complete", json={"lease_token": ta, "value": 0.99})
    assert other.status_code == 409
    late_report = {"lease_token": ta, "step": 4, "value": 0.99}
    assert client.post(url_a + "/reports", json=late_report).status_code == 409
    assert client.post(url_a + "/heartbeat", json={"lease_token": ta}).status_code == 409
    assert (
        client.post(url_a + "/fail", json={"lease_token": ta, "failure_class": "oom"}).status_code
        == 409
    )

    assert (
        client.post(url_b + "/complete", json={"lease_token": tb, "value": 0.7}).status_code == 200
    )
    board = client.get(f"/api/v1/studies/{study['id']}/leaderboard").json()
    assert [(t["id"], t["value"]) for t in board] == [(b["trial_id"], 0.7), (a["trial_id"], 0.5)]
    assert client.get(f"/api/v1/studies/{study['id']}/best").status_code == 200
    assert "hpo_trials_completed_total 2" in client.get("/metrics").text
