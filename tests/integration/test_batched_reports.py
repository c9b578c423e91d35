"""Batched reports and the long-poll complete-and-claim, over HTTP on SQLite and PostgreSQL.

- A lease says whether its reports need an answer (`sync_reports`: the study's pruner reads
  them). Without one, reports sent as one batch, or with the complete, are stored exactly as
  the same reports sent one by one (values, a repeated step's later value, the trial's last
  step, the study's curves).
- With a pruner, a batch is decided report by report: the first that prunes ends the trial.
- A batch over MAX_REPORTS_PER_REQUEST, a negative step, a non-finite value or both forms at
  once is a 422 that names what is wrong, and stores nothing.
- A complete-and-claim with `wait_seconds` commits the complete first, then is held until a
  trial can be served (one created during the wait), and a retry of it gets that same trial.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from hpo.settings import Settings
from hpo.wire import MAX_REPORTS_PER_REQUEST

pytestmark = pytest.mark.integration

ADMIN, WORKER = "admin-Rb61x", "worker-Qp48n"
SPEC: dict[str, Any] = {
    "name": "batched",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 4},
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
    "sampler": "random",
    "budget": {"n_trials": 10, "max_parallel": 10},
}
# Four epochs, the second reported twice (a retried report: the later value counts).
CURVE = [(0, 0.9), (1, 0.8), (1, 0.75), (2, 0.7), (3, 0.6)]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url,
        api_token=ADMIN,  # type: ignore[arg-type]
        worker_token=WORKER,  # type: ignore[arg-type]
        claim_recheck_seconds=0.2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def create_study(client: TestClient, **changes: Any) -> dict[str, Any]:
    response = client.post("/api/v1/studies", json={**SPEC, **changes}, headers=auth(ADMIN))
    assert response.status_code == 201, response.text
    return dict(response.json())


def claim(client: TestClient, worker_id: str = "w") -> dict[str, Any]:
    response = client.post(
        "/api/v1/workers/claim", json={"worker_id": worker_id}, headers=auth(WORKER)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def post(client: TestClient, lease: dict[str, Any], action: str, **body: Any) -> Any:
    return client.post(
        f"/api/v1/trials/{lease['trial_id']}/{action}",
        json={"lease_token": lease["lease_token"], **body},
        headers=auth(WORKER),
    )


def items(reports: list[tuple[int, float]]) -> list[dict[str, Any]]:
    return [{"step": s, "value": v} for s, v in reports]


def trial(client: TestClient, study_id: int, trial_id: int) -> dict[str, Any]:
    page = client.get(f"/api/v1/studies/{study_id}/trials", headers=auth(ADMIN)).json()
    return next(t for t in page["items"] if t["id"] == trial_id)


def curves(client: TestClient, study_id: int) -> dict[int, tuple[list[int], list[float]]]:
    """Trial number -> (steps, values) of the study's curves."""
    answer = client.get(f"/api/v1/studies/{study_id}/curves", headers=auth(ADMIN)).json()
    return {c["number"]: (c["step"], c["value"]) for c in answer["curves"]}


def test_batched_reports_are_stored_as_single_ones(client: TestClient) -> None:
    study = create_study(client)
    one_by_one, batched, with_complete = claim(client), claim(client), claim(client)
    assert one_by_one["sync_reports"] is False  # no pruner: nothing to answer

    for step, value in CURVE:
        answer = post(client, one_by_one, "reports", step=step, value=value)
        assert answer.status_code == 200 and answer.json() == {"should_prune": False}
    answer = post(client, batched, "reports", reports=items(CURVE))
    assert answer.status_code == 200 and answer.json() == {"should_prune": False}
    # Two reports as a batch, the rest with the result (what a worker sends at the end).
    assert post(client, with_complete, "reports", reports=items(CURVE[:2])).status_code == 200
    done = post(client, with_complete, "complete", value=0.6, reports=items(CURVE[2:]))
    assert done.status_code == 200, done.text
    assert (done.json()["last_step"], done.json()["last_report_value"]) == (3, 0.6)
    for lease in (one_by_one, batched):
        assert post(client, lease, "complete", value=0.6).status_code == 200

    expected = ([0, 1, 2, 3], [0.9, 0.75, 0.7, 0.6])
    by_number = curves(client, study["id"])
    assert [by_number[lease["number"]] for lease in (one_by_one, batched, with_complete)] == [
        expected
    ] * 3
    rows = [trial(client, study["id"], lease["trial_id"]) for lease in (one_by_one, batched)]
    assert [(t["last_step"], t["last_report_value"], t["value"]) for t in rows] == [
        (3, 0.6, 0.6)
    ] * 2


def test_complete_and_claim_stores_the_reports_it_carries(client: TestClient) -> None:
    study = create_study(client)
    lease = claim(client)
    body = {"value": 0.6, "reports": items(CURVE), "worker_id": "w"}
    answer = post(client, lease, "complete-and-claim", **body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["trial"]["last_step"] == 3 and answer.json()["next"] is not None
    # A retry (the answer was lost) stores nothing twice and changes nothing.
    again = post(client, lease, "complete-and-claim", **body)
    assert again.status_code == 200 and again.json()["next"] == answer.json()["next"]
    assert curves(client, study["id"])[lease["number"]] == ([0, 1, 2, 3], [0.9, 0.75, 0.7, 0.6])


def test_with_a_pruner_each_report_of_a_batch_is_decided(client: TestClient) -> None:
    pruner = {"name": "median", "options": {"n_startup_trials": 1}}
    task = {**SPEC["task"], "metric": "val_loss"}  # minimized: lower is better
    study = create_study(client, pruner=pruner, task=task)
    good = claim(client)
    assert good["sync_reports"] is True  # the pruner answers every report
    assert post(client, good, "reports", reports=items([(0, 0.5), (1, 0.4), (2, 0.3)])).json() == {
        "should_prune": False
    }
    assert post(client, good, "complete", value=0.3).status_code == 200

    # One by one: pruned at the first report worse than the other trial's at that step.
    single = claim(client)
    assert post(client, single, "reports", step=0, value=0.9).json() == {"should_prune": True}
    # As a batch: step 0 is better, step 1 worse: pruned there, step 2 never stored.
    batch = claim(client)
    worse_at_one = items([(0, 0.45), (1, 0.9), (2, 0.1)])
    assert post(client, batch, "reports", reports=worse_at_one).json() == {"should_prune": True}
    pruned = trial(client, study["id"], batch["trial_id"])
    assert (pruned["state"], pruned["value"], pruned["last_step"]) == ("pruned", 0.9, 1)
    assert curves(client, study["id"])[batch["number"]] == ([0, 1], [0.45, 0.9])
    # A pruned trial takes no more reports.
    assert post(client, batch, "reports", step=3, value=0.1).status_code == 409


def test_bad_batches_are_refused_naming_the_limit(client: TestClient) -> None:
    study = create_study(client)
    lease = claim(client)
    too_many = items([(s, 0.5) for s in range(MAX_REPORTS_PER_REQUEST + 1)])
    for action, extra in (("reports", {}), ("complete", {"value": 0.5})):
        refused = post(client, lease, action, reports=too_many, **extra)
        assert refused.status_code == 422, refused.text
        assert str(MAX_REPORTS_PER_REQUEST) in refused.text
    refused = post(client, lease, "complete-and-claim", value=0.5, worker_id="w", reports=too_many)
    assert refused.status_code == 422 and str(MAX_REPORTS_PER_REQUEST) in refused.text
    for bad, says in (
        (items([(0, 0.5), (-1, 0.5)]), "greater than or equal to 0"),
        ([{"step": 1.5, "value": 0.5}], "integer"),
        ([], "at least 1"),
    ):
        refused = post(client, lease, "reports", reports=bad)
        assert refused.status_code == 422 and says in refused.text, (bad, refused.text)
    nan = client.post(
        f"/api/v1/trials/{lease['trial_id']}/reports",
        # NaN is no JSON: json.dumps writes it only when allowed, as a careless client might.
        content=json.dumps(
            {"lease_token": lease["lease_token"], "reports": [{"step": 0, "value": math.nan}]}
        ),
        headers={**auth(WORKER), "Content-Type": "application/json"},
    )
    assert nan.status_code == 422 and "finite" in nan.text, nan.text
    both = post(client, lease, "reports", step=0, value=0.5, reports=items([(1, 0.5)]))
    assert both.status_code == 422 and "not both" in both.text
    assert post(client, lease, "reports").status_code == 422
    # Nothing of it stored; the limit itself goes through.
    assert trial(client, study["id"], lease["trial_id"])["last_step"] is None
    at_limit = items([(s, 0.5) for s in range(MAX_REPORTS_PER_REQUEST)])
    assert post(client, lease, "reports", reports=at_limit).status_code == 200
    assert trial(client, study["id"], lease["trial_id"])["last_step"] == 999


def test_a_held_complete_and_claim_gets_a_trial_created_while_it_waits(
    client: TestClient,
) -> None:
    study = create_study(client, budget={"n_trials": 1, "max_parallel": 1})
    lease = claim(client)
    body = {"value": 0.5, "reports": items(CURVE), "worker_id": "w", "wait_seconds": 20}
    answer: dict[str, Any] = {}

    def send() -> None:
        answer["response"] = post(client, lease, "complete-and-claim", **body)

    held = threading.Thread(target=send, daemon=True)
    held.start()
    # The complete is committed before the wait: the trial shows completed while it is held.
    for _ in range(200):
        if trial(client, study["id"], lease["trial_id"])["state"] == "completed":
            break
        held.join(0.05)
    assert trial(client, study["id"], lease["trial_id"])["state"] == "completed"
    assert held.is_alive(), answer  # no work yet: held, not answered with next null
    raised = client.patch(
        f"/api/v1/studies/{study['id']}", json={"n_trials": 2}, headers=auth(ADMIN)
    )
    assert raised.status_code == 200, raised.text
    held.join(30)
    response = answer["response"]
    assert response.status_code == 200, response.text
    following = response.json()["next"]
    assert following is not None and following["number"] == 1
    assert response.json()["trial"]["state"] == "completed"
    # A retry of it (its answer lost) gets that same trial, not another.
    again = post(client, lease, "complete-and-claim", **{**body, "wait_seconds": 0})
    assert again.status_code == 200 and again.json()["next"] == following


def test_complete_and_claim_with_no_work_answers_null_once_its_wait_is_over(
    client: TestClient,
) -> None:
    create_study(client, budget={"n_trials": 1, "max_parallel": 1})
    lease = claim(client)
    body = {"value": 0.5, "worker_id": "w", "wait_seconds": 0.3}
    answer = post(client, lease, "complete-and-claim", **body)
    assert answer.status_code == 200 and answer.json()["next"] is None
    assert answer.json()["trial"]["state"] == "completed"
    refused = post(client, lease, "complete-and-claim", **{**body, "wait_seconds": 3601})
    assert refused.status_code == 422 and "wait_seconds" in refused.text
