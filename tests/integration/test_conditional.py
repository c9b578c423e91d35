"""Conditional spaces (`when`) through the service on SQLite and PostgreSQL: a grid study
hands out exactly the active combinations, each once, to 16 parallel claimers; a bad `when`
is refused at creation over REST with a message naming it, and nothing is created."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hpo.service import Lease, Service
from hpo.space import space_from_dict
from hpo.storage import Database
from tests.integration.test_api import ADMIN, SPEC, auth, client  # noqa: F401 (a fixture)
from tests.integration.test_service import spec

pytestmark = pytest.mark.integration

# optimizer (3) x its children: sgd -> momentum (3); momentum -> momentum (3) x nesterov (2);
# adam -> nothing. Then schedule: constant, or step x gamma (2); depth 1, or 2 x width2 (2).
# (3 + 6 + 1) x (1 + 2) x (1 + 2) = 90 active combinations of a 3*3*2*2*2*2*2 = 288 product.
CONDITIONAL_GRID: dict[str, Any] = {
    "optimizer": {"type": "categorical", "choices": ["sgd", "momentum", "adam"]},
    "momentum": {
        "type": "float",
        "low": 0.5,
        "high": 0.9,
        "grid": [0.5, 0.7, 0.9],
        "when": {"optimizer": ["sgd", "momentum"]},
    },
    "nesterov": {
        "type": "categorical",
        "choices": [True, False],
        "when": {"optimizer": ["momentum"]},
    },
    "schedule": {"type": "categorical", "choices": ["constant", "step"]},
    "gamma": {
        "type": "float",
        "low": 0.1,
        "high": 0.5,
        "grid": [0.1, 0.5],
        "when": {"schedule": ["step"]},
    },
    "depth": {"type": "int", "low": 1, "high": 2},
    "width2": {"type": "int", "low": 16, "high": 32, "grid": [16, 32], "when": {"depth": [2]}},
}
N_ACTIVE = 90


def _key(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, (type(v).__name__, v)) for k, v in params.items()))


def test_16_claimers_get_every_active_combination_of_a_conditional_grid_once(
    fresh_db: Database,
) -> None:
    space = space_from_dict(CONDITIONAL_GRID)
    assert space.grid_size() == N_ACTIVE and space.flattened().grid_size() == 288
    expected = {_key(p) for p in space.iter_grid()}
    assert len(expected) == N_ACTIVE
    service = Service(fresh_db)
    study = service.studies.create(
        spec(space=CONDITIONAL_GRID, sampler="grid", budget={"n_trials": 500, "max_parallel": 16})
    )
    leases: list[Lease] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim_all(worker: str) -> None:
        try:
            while (lease := service.dispatch.claim(worker)) is not None:
                with lock:
                    leases.append(lease)
                service.dispatch.complete(
                    lease.trial_id, lease.lease_token, float(len(lease.params))
                )
        except BaseException as e:  # surfaced by the main thread
            errors.append(e)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}",)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    handed_out = [_key(dict(lease.params)) for lease in leases]
    assert len(handed_out) == N_ACTIVE  # exactly once each ...
    assert set(handed_out) == expected  # ... and exactly the active combinations
    for lease in leases:
        space.validate(lease.params)  # no inactive parameter, every active one
    view = service.studies.get(study.id)
    assert view.counts["completed"] == N_ACTIVE
    assert view.state == "completed"  # the 90-point grid finished a 500-trial budget
    board = service.studies.leaderboard(study.id, 5)
    assert all(space.validate(dict(t.params)) == dict(t.params) for t in board)


BAD_WHEN = [
    (
        {"lr": {"type": "float", "low": 0.1, "high": 1, "when": {"optimiser": ["sgd"]}}},
        "'lr': when names 'optimiser', which is not a parameter",
    ),
    (
        {
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            "momentum": {"type": "float", "low": 0.5, "high": 0.9, "when": {"optimizer": ["sdg"]}},
        },
        "'momentum': when lists 'sdg', which 'optimizer' cannot take",
    ),
    (
        {
            "a": {"type": "int", "low": 0, "high": 3, "when": {"b": [1]}},
            "b": {"type": "int", "low": 0, "high": 3, "when": {"a": [1]}},
        },
        "cycle: a -> b -> a",
    ),
    (
        {
            "lr": {"type": "float", "low": 0.1, "high": 1},
            "x": {"type": "int", "low": 0, "high": 3, "when": {"lr": [0.5]}},
        },
        "a parent must be a categorical or an int",
    ),
    (
        {"lr": {"type": "float", "low": 0.1, "high": 1, "when": ["sgd"]}},
        "when must name one parent",
    ),
]


def test_a_bad_when_is_refused_over_rest_naming_it_and_nothing_is_created(
    client: TestClient,  # noqa: F811 (the fixture imported above)
) -> None:
    for space, needle in BAD_WHEN:
        response = client.post(
            "/api/v1/studies", json={**SPEC, "space": space}, headers=auth(ADMIN)
        )
        assert response.status_code in (400, 422), response.text
        assert needle in response.json()["detail"], (needle, response.text)
    assert client.get("/api/v1/studies", headers=auth(ADMIN)).json() == []
