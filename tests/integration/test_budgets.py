"""Budgets that stop a study on their own, on SQLite and PostgreSQL: summed training time
(`max_seconds`), one trial's time (`max_trial_seconds`, failed as timeout), a target value;
each changed by PATCH, and shown as used and left."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.errors import ConflictError
from hpo.service import Service
from hpo.settings import Settings
from hpo.spec import parse_study_spec
from hpo.storage import Database
from tests.integration.test_service import Clock

pytestmark = pytest.mark.integration

SPACE = {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}}


def spec(**budget: Any) -> Any:
    return parse_study_spec(
        {
            "name": "budgets",
            "task": {"model": "mlp", "dataset": "digits", "epochs": 3},
            "space": SPACE,
            "sampler": "random",
            "budget": {"n_trials": 20, "max_parallel": 2, **budget},
            "check_config": False,
        }
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(db: Database, clock: Clock) -> Service:
    return Service(db, prepare_suggestions=False, lease_seconds=10_000, clock=clock)


def test_the_time_budget_stops_new_trials_and_completes_when_the_running_ones_end(
    service: Service, clock: Clock
) -> None:
    study = service.studies.create(spec(max_seconds=100.0))
    first, second = service.dispatch.claim("w1"), service.dispatch.claim("w2")
    assert first is not None and second is not None
    clock.advance(30)
    service.dispatch.complete(first.trial_id, first.lease_token, 0.5)  # 30 s + 30 s running
    third = service.dispatch.claim("w1")
    assert third is not None
    clock.advance(30)  # finished 30 + running 60 + 30 = 120 s >= 100
    assert service.dispatch.claim("w3") is None  # nothing starts past the budget
    view = service.studies.get(study.id)
    assert view.state == "running"  # two trials still run
    assert view.budget is not None and view.budget.seconds_used == pytest.approx(120.0)
    assert view.budget.seconds_left == 0.0
    service.dispatch.complete(second.trial_id, second.lease_token, 0.6)
    assert service.studies.get(study.id).state == "running"  # the third still runs
    service.dispatch.complete(third.trial_id, third.lease_token, 0.7)
    done = service.studies.get(study.id)
    assert done.state == "completed"
    assert done.stop_reason == "time budget of 100 s of training used"
    assert done.counts["completed"] == 3
    # A PATCH that raises the budget reopens the study; one that turns it off too.
    reopened = service.studies.update(study.id, budget={"max_seconds": 500.0})
    assert reopened.state == "running" and reopened.stop_reason is None
    assert reopened.budget is not None and reopened.budget.seconds_left == pytest.approx(380.0)
    assert service.dispatch.claim("w1") is not None


def test_a_trial_past_max_trial_seconds_fails_as_timeout_on_its_next_call(
    service: Service, clock: Clock
) -> None:
    study = service.studies.create(spec(max_trial_seconds=60.0, max_parallel=3))
    slow, reporting, completing = (service.dispatch.claim(f"w{i}") for i in range(3))
    assert slow is not None and reporting is not None and completing is not None
    clock.advance(59)
    service.dispatch.heartbeat(slow.trial_id, slow.lease_token)  # still within the limit
    clock.advance(2)
    with pytest.raises(ConflictError, match="max_trial_seconds=60 and failed as timeout"):
        service.dispatch.heartbeat(slow.trial_id, slow.lease_token)
    with pytest.raises(ConflictError, match="timeout"):
        service.dispatch.report(reporting.trial_id, reporting.lease_token, 1, 0.5)
    with pytest.raises(ConflictError, match="timeout"):
        service.dispatch.complete(completing.trial_id, completing.lease_token, 0.9)
    trials, _ = service.studies.trials(study.id)
    assert [(t.state, t.failure_class) for t in trials] == [("failed", "timeout")] * 3
    assert trials[0].failure_message == "ran longer than max_trial_seconds=60"
    # Not retried: the next claim is a new trial, and a late complete still gets 409.
    fresh = service.dispatch.claim("w1")
    assert fresh is not None and fresh.number == 3
    with pytest.raises(ConflictError):
        service.dispatch.complete(slow.trial_id, slow.lease_token, 0.9)


def test_the_reaper_times_out_a_trial_that_sends_nothing(service: Service, clock: Clock) -> None:
    study = service.studies.create(spec(max_trial_seconds=60.0))
    lease = service.dispatch.claim("silent")
    assert lease is not None
    clock.advance(30)
    assert service.dispatch.reap() == 0
    clock.advance(31)
    assert service.dispatch.reap() == 1
    (trial,), _ = service.studies.trials(study.id)
    assert (trial.state, trial.failure_class) == ("failed", "timeout")


@pytest.mark.parametrize(
    ("direction", "values", "target"),
    [("maximize", (0.5, 0.97, 0.98), 0.98), ("minimize", (0.5, 0.21, 0.2), 0.2)],
)
def test_a_completed_trial_reaching_the_target_completes_the_study(
    service: Service, direction: str, values: tuple[float, ...], target: float
) -> None:
    base = spec(target=target).to_dict()
    base["task"]["direction"] = direction
    study = service.studies.create(parse_study_spec(base))
    for value in values:
        lease = service.dispatch.claim("w1")
        assert lease is not None
        service.dispatch.complete(lease.trial_id, lease.lease_token, value)
        state = service.studies.get(study.id).state
        assert state == ("completed" if value == values[-1] else "running")
    done = service.studies.get(study.id)
    assert done.stop_reason == f"target {target:g} reached by trial #2 ({values[-1]:g})"
    assert service.dispatch.claim("w1") is None
    # Turning the target off reopens it; a target its best already reaches completes it.
    assert service.studies.update(study.id, budget={"target": None}).state == "running"
    assert service.studies.update(study.id, budget={"target": values[1]}).state == "completed"


ADMIN = "admin-Budg3t"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database_url, api_token=ADMIN)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as c:
        c.headers["Authorization"] = f"Bearer {ADMIN}"
        yield c


def test_patch_sets_checks_and_clears_each_budget(client: TestClient) -> None:
    created = client.post("/api/v1/studies", json=spec(max_seconds=7200.0).to_dict())
    assert created.status_code == 201, created.text
    url = f"/api/v1/studies/{created.json()['id']}"
    for body, field in [
        ({"max_seconds": -1}, "max_seconds"),
        ({"max_trial_seconds": 0}, "max_trial_seconds"),
        ({"target": "high"}, "target"),
        ({"max_seconds": 1e12}, "max_seconds"),
        ({"max_hours": 2}, "max_hours"),
    ]:
        refused = client.patch(url, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert field in refused.text
    changed = client.patch(url, json={"max_trial_seconds": 600, "target": 0.98})
    assert changed.status_code == 200, changed.text
    budget = changed.json()["budget"]
    assert (budget["max_seconds"], budget["max_trial_seconds"], budget["target"]) == (
        7200.0,
        600.0,
        0.98,
    )
    assert budget["seconds_used"] == 0.0 and budget["seconds_left"] == 7200.0
    cleared = client.patch(url, json={"max_seconds": None}).json()
    assert cleared["budget"]["max_seconds"] is None
    assert cleared["budget"]["seconds_left"] is None
    assert cleared["spec"]["budget"]["target"] == 0.98  # left out: unchanged
    shown = client.get(url).json()
    assert shown["budget"]["trials_left"] == 20 and shown["budget"]["max_trial_seconds"] == 600
