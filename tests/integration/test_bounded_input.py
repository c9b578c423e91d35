"""Issue 11 over HTTP, on SQLite and PostgreSQL: free-form JSON fields are bounded (one
validator, hpo.jsonlimits), sampler options are checked at creation, budgets are capped and
comparison curves bounded in points, every request is counted in /metrics, OPTIONS and 405
answer the full Allow list, and the OpenAPI schema declares GET /best's 409."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo import jsonlimits
from hpo.service.curves import MAX_POINTS
from hpo.settings import Settings

pytestmark = pytest.mark.integration

STUDY: dict[str, Any] = {
    "name": "bounded",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
    "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
    "sampler": "random",
    "budget": {"n_trials": 20, "max_parallel": 8},
    "check_config": False,  # its params are not the trainers' (no trainer runs them)
}
COMPARISON: dict[str, Any] = {
    "name": "cmp",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2},
    "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
    "samplers": ["random", "tpe"],
    "n_trials": 10,
    "repeats": 2,
    "check_config": False,  # its params are not the trainers' (no trainer runs them)
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, max_studies_per_comparison=6)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def create_study(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/studies", json={**STUDY, **changes})
    assert response.status_code == 201, response.text
    return dict(response.json())


def claim(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/v1/workers/claim", json={"worker_id": "w"})
    assert response.status_code == 200, response.text
    return dict(response.json())


def reads_answer_200(client: TestClient, study_id: int) -> None:
    for path in (
        "/api/v1/studies",
        f"/api/v1/studies/{study_id}",
        f"/api/v1/studies/{study_id}/trials",
        f"/api/v1/studies/{study_id}/leaderboard",
        "/",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])


# --- 2: one bounded validator for every free-form JSON field -------------------------------


def test_nested_metrics_are_refused_and_every_read_still_answers(client: TestClient) -> None:
    study = create_study(client)
    lease = claim(client)
    attack = {"lease_token": lease["lease_token"], "value": 0.5, "metrics": {"m": nested(300)}}
    response = client.post(f"/api/v1/trials/{lease['trial_id']}/complete", json=attack)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "metrics" in detail and f"deeper than {jsonlimits.MAX_DEPTH} levels" in detail
    reads_answer_200(client, study["id"])
    # Nothing was stored: the trial is still running, and a normal complete works.
    fine = {"lease_token": lease["lease_token"], "value": 0.5, "metrics": {"m": nested(20)}}
    assert client.post(f"/api/v1/trials/{lease['trial_id']}/complete", json=fine).status_code == 200
    reads_answer_200(client, study["id"])


# One value per limit (just past it), and what the message says about it.
LIMITS: dict[str, tuple[Any, str]] = {
    "depth": (nested(jsonlimits.MAX_DEPTH + 2), f"deeper than {jsonlimits.MAX_DEPTH} levels"),
    "values": (list(range(jsonlimits.MAX_VALUES)), f"more than {jsonlimits.MAX_VALUES} values"),
    "string length": ("s" * (jsonlimits.MAX_STRING + 1), f"at most {jsonlimits.MAX_STRING}"),
    "key length": ({"k" * (jsonlimits.MAX_STRING + 1): 1}, f"at most {jsonlimits.MAX_STRING}"),
    "total size": (["s" * 9_000] * 60, f"at most {jsonlimits.MAX_BYTES}"),
    "NUL in a string": ("a\x00b", "NUL"),
    "NUL in a key": ({"a\x00": 1}, "NUL"),
    "integer beyond 64 bits": (2**64, "beyond 64 bits"),
}


def test_each_limit_is_a_422_that_names_the_field_and_the_limit(client: TestClient) -> None:
    study = create_study(client)
    lease = claim(client)
    url = f"/api/v1/trials/{lease['trial_id']}/complete"
    for name, (value, says) in LIMITS.items():
        body = {"lease_token": lease["lease_token"], "value": 0.5, "metrics": {"v": value}}
        response = client.post(url, json=body)
        assert response.status_code == 422, (name, response.text[:300])
        detail = response.json()["detail"]
        assert "metrics" in detail and says in detail, (name, detail[:300])
    # NaN and infinities (JSON's non-standard spellings) inside the metrics.
    for raw in ("NaN", "Infinity", "-Infinity"):
        token = lease["lease_token"]
        text = f'{{"lease_token": "{token}", "value": 0.5, "metrics": {{"a": [{raw}]}}}}'
        response = client.post(url, content=text, headers={"content-type": "application/json"})
        assert response.status_code == 422 and "finite" in response.json()["detail"], raw
    reads_answer_200(client, study["id"])
    assert client.get(f"/api/v1/studies/{study['id']}/trials").json()["items"][0]["state"] == (
        "running"
    )


def test_every_free_form_field_goes_through_the_limits(client: TestClient) -> None:
    deep = nested(300)
    study = create_study(client)
    # The spec's free parts, on studies and comparisons.
    for field, body in (
        ("fixed", {**STUDY, "fixed": {"a": "x\x00"}}),
        ("options", {**STUDY, "sampler": {"name": "tpe", "options": {"n_startup_trials": deep}}}),
        ("options", {**STUDY, "pruner": {"name": "median", "options": {"a": deep}}}),
        ("space", {**STUDY, "space": {"x": {"type": "int", "low": 0, "high": 1, "e": deep}}}),
    ):
        response = client.post("/api/v1/studies", json=body)
        assert response.status_code == 422 and field in response.json()["detail"], response.text
    for field, body in (
        ("fixed", {**COMPARISON, "fixed": {"a": "x" * (jsonlimits.MAX_STRING + 1)}}),
        ("options", {**COMPARISON, "samplers": [{"name": "tpe", "options": {"x": deep}}]}),
    ):
        response = client.post("/api/v1/comparisons", json=body)
        assert response.status_code == 422 and field in response.json()["detail"], response.text
    # Enqueued params, tell metrics.
    enqueue = client.post(f"/api/v1/studies/{study['id']}/trials", json={"params": {"x": deep}})
    assert enqueue.status_code == 422 and "params" in enqueue.json()["detail"]
    asked = client.post(f"/api/v1/studies/{study['id']}/ask").json()
    tell = {"lease_token": asked["lease_token"], "value": 0.1, "metrics": {"m": deep}}
    told = client.post(f"/api/v1/trials/{asked['trial_id']}/tell", json=tell)
    assert told.status_code == 422 and "metrics" in told.json()["detail"]
    assert [s["id"] for s in client.get("/api/v1/studies").json()] == [study["id"]]
    assert client.get("/api/v1/comparisons").json() == []
    reads_answer_200(client, study["id"])


# --- 3 (creation half): sampler options that cannot work -----------------------------------

BAD_OPTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("tpe", {"n_startup_trials": "ten"}, "n_startup_trials"),
    ("tpe", {"n_startup_trials": -1}, "n_startup_trials"),
    ("tpe", {"n_ei_candidates": 2.5}, "n_ei_candidates"),
    ("tpe", {"multivariate": "yes"}, "multivariate"),
    ("gp", {"n_startup_trials": None}, "n_startup_trials"),
    ("gp", {"max_observations": "many"}, "max_observations"),
    ("cmaes", {"popsize": 1}, "popsize"),
    ("cmaes", {"sigma0": -1.0}, "sigma0"),
    ("qmc", {"qmc_type": "lattice"}, "qmc_type"),
    ("qmc", {"scramble": 1}, "scramble"),
    ("lipo", {"n_candidates": "ten"}, "n_candidates"),
    ("lipo", {"random_probability": 2}, "random_probability"),
    ("random", {"n_startup_trials": 10}, "unknown option 'n_startup_trials'"),
    ("grid", {"cap": True}, "cap"),
]


def test_sampler_options_are_checked_at_creation(client: TestClient) -> None:
    gridded = {"x": {"type": "int", "low": 0, "high": 3}}
    for sampler, options, names in BAD_OPTIONS:
        body = {**STUDY, "space": gridded, "sampler": {"name": sampler, "options": options}}
        response = client.post("/api/v1/studies", json=body)
        assert response.status_code == 422, (sampler, options, response.text)
        assert names in response.json()["detail"], (sampler, options, response.json())
        comparison = {**COMPARISON, "space": gridded, "samplers": [body["sampler"]]}
        response = client.post("/api/v1/comparisons", json=comparison)
        assert response.status_code == 422 and names in response.json()["detail"], response.text
    # NaN, in the JSON spelling Python's parser accepts.
    text = json.dumps({**STUDY, "sampler": {"name": "tpe", "options": {"n_startup_trials": 1}}})
    text = text.replace('"n_startup_trials": 1', '"n_startup_trials": NaN')
    response = client.post(
        "/api/v1/studies", content=text, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422 and "n_startup_trials" in response.json()["detail"]
    assert client.get("/api/v1/studies").json() == []
    unknown = client.post(
        "/api/v1/studies", json={**STUDY, "sampler": {"name": "tpe", "options": {"bogus": 1}}}
    )
    assert unknown.status_code == 422
    valid = "valid options are constant_liar, group, max_history, multivariate"
    assert valid in unknown.json()["detail"]
    # Good options still work, and the study's claims work.
    good = {"n_startup_trials": 2, "n_ei_candidates": 8, "multivariate": False}
    create_study(client, sampler={"name": "tpe", "options": good})
    assert math.isfinite(claim(client)["params"]["x"])


# --- 7: budgets capped, curves bounded --------------------------------------------------------


def test_budgets_beyond_the_caps_are_422(client: TestClient) -> None:
    huge = client.post("/api/v1/comparisons", json={**COMPARISON, "n_trials": 1_000_000})
    assert huge.status_code == 422 and "HPO_MAX_TRIALS_PER_STUDY" in huge.json()["detail"]
    many = client.post("/api/v1/comparisons", json={**COMPARISON, "repeats": 4})  # 2 x 4 > 6
    assert many.status_code == 422
    assert (
        "8 studies" in many.json()["detail"]
        and "HPO_MAX_STUDIES_PER_COMPARISON" in (many.json()["detail"])
    )
    study = client.post("/api/v1/studies", json={**STUDY, "budget": {"n_trials": 100_001}})
    assert study.status_code == 422 and "HPO_MAX_TRIALS_PER_STUDY" in study.json()["detail"]
    assert (
        client.get("/api/v1/studies").json() == []
        and client.get("/api/v1/comparisons").json() == []
    )
    created = create_study(client)
    raised = client.patch(f"/api/v1/studies/{created['id']}", json={"n_trials": 200_000})
    assert raised.status_code == 422 and "HPO_MAX_TRIALS_PER_STUDY" in raised.json()["detail"]
    assert client.get(f"/api/v1/studies/{created['id']}").json()["n_trials"] == 20
    ok = client.patch(f"/api/v1/studies/{created['id']}", json={"n_trials": 100_000})
    assert ok.status_code == 200 and ok.json()["n_trials"] == 100_000


def test_comparison_curves_do_not_grow_with_n_trials(client: TestClient) -> None:
    points = {}
    for n_trials in (1_000, 100_000):
        comparison = {
            **COMPARISON,
            "name": f"c{n_trials}",
            "samplers": ["random"],
            "n_trials": n_trials,
        }
        created = client.post("/api/v1/comparisons", json=comparison)
        assert created.status_code == 201, created.text
        for study in created.json()["studies"]:
            for value in (0.1, 0.4, 0.3):
                lease = client.post(f"/api/v1/studies/{study['id']}/ask").json()
                tell = {"lease_token": lease["lease_token"], "value": value}
                assert (
                    client.post(f"/api/v1/trials/{lease['trial_id']}/tell", json=tell).status_code
                    == 200
                )
        view = client.get(f"/api/v1/comparisons/{created.json()['id']}").json()
        by_trial = view["curves"]["random"]["by_trial"]
        # Every finished trial, then the budget's end.
        assert by_trial["x"] == [1, 2, 3, n_trials], by_trial["x"][:10]
        assert by_trial["median"] == [0.1, 0.4, 0.4, None]  # running seeds: no data past 3
        assert len(view["curves"]["random"]["by_time"]["x"]) <= MAX_POINTS
        points[n_trials] = len(by_trial["x"])
    assert points[1_000] == points[100_000]


# --- 8: every request is counted -------------------------------------------------------------


def test_http_requests_are_counted_by_method_route_and_status(client: TestClient) -> None:
    study = create_study(client)
    for _ in range(3):
        assert client.get(f"/api/v1/studies/{study['id']}").status_code == 200
    assert client.get("/api/v1/studies/999999").status_code == 404
    assert client.get("/no/such/page").status_code == 404
    text = client.get("/metrics").text
    counts = {
        (m["method"], m["route"], m["status"]): float(m["n"])
        for m in re.finditer(
            r'hpo_http_requests_total\{method="(?P<method>\w+)",route="(?P<route>[^"]+)",'
            r'status="(?P<status>\d+)"\} (?P<n>\S+)',
            text,
        )
    }
    assert counts[("GET", "/api/v1/studies/{study_id}", "200")] == 3
    assert counts[("GET", "/api/v1/studies/{study_id}", "404")] == 1
    assert counts[("POST", "/api/v1/studies", "201")] == 1
    assert counts[("GET", "unmatched", "404")] == 1
    assert sum(counts.values()) >= 6


# --- 11: OPTIONS and 405 answer the full Allow list; /best documents its 409 -----------------


def allow(response: Any) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")}


def test_options_and_405_answer_every_allowed_method(client: TestClient) -> None:
    study = create_study(client)
    expected = {
        f"/api/v1/studies/{study['id']}": {"GET", "PATCH", "DELETE", "OPTIONS"},
        "/api/v1/studies": {"GET", "POST", "OPTIONS"},
        f"/api/v1/studies/{study['id']}/trials": {"GET", "POST", "OPTIONS"},
        "/api/v1/workers/claim": {"POST", "OPTIONS"},
    }
    for path, methods in expected.items():
        options = client.options(path)
        assert options.status_code == 204 and allow(options) == methods, (path, options.headers)
        wrong = client.put(path, json={})
        assert wrong.status_code == 405 and allow(wrong) == methods, (path, wrong.headers)
        assert "detail" in wrong.json()
    assert client.options("/api/v1/nothing/here").status_code == 404


def test_best_documents_its_409(client: TestClient) -> None:
    study = create_study(client)
    best = client.get(f"/api/v1/studies/{study['id']}/best")
    assert best.status_code == 409 and "no completed trial" in best.json()["detail"]
    schema = client.get("/openapi.json").json()
    responses = schema["paths"]["/api/v1/studies/{study_id}/best"]["get"]["responses"]
    assert "409" in responses
    assert responses["409"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    # Every GET that is not /best stays without 409 (no read of them conflicts).
    for path, operations in schema["paths"].items():
        if "get" in operations and not path.endswith("/best"):
            assert "409" not in operations["get"]["responses"], path
