"""The typed wire: the client parses the API's JSON into the frozen values the service
returns (hpo.wire), gives the same JSON back for `--json`, and loads no storage code."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime
from typing import Any

import pytest

from hpo.states import Direction, StudyState, TrialState
from hpo.wire import BestConfig, CreatedStudy, Lease, StudyView, TrialPage, TrialView

TRIAL: dict[str, Any] = {
    "id": 7, "study_id": 2, "number": 3, "state": "completed", "params": {"lr": 0.01},
    "value": 0.91, "metrics": {"curve": [0.5, 0.91]}, "attempt": 1, "worker_id": "w-1",
    "device": "cpu", "created_at": "2026-01-02T03:04:05.123456Z",
    "started_at": "2026-01-02T03:04:06Z", "finished_at": "2026-01-02T03:04:16Z",
    "failure_class": None, "failure_message": None, "last_step": 2,
    "last_report_value": 0.91, "duration_s": 10.0, "note": "lr too high", "tags": ["a", "b"],
    "values": [0.93, 5000.0], "feasible": True,
}  # fmt: skip
STUDY: dict[str, Any] = {
    "id": 2, "name": "s", "state": "running", "direction": "maximize", "sampler": "tpe",
    "pruner": "none", "n_trials": 20, "max_parallel": 4, "max_attempts": 3, "seed": 1,
    "spec": {"task": {"model": "mlp"}, "space": {"lr": {"type": "float"}}},
    "comparison_id": None, "created_at": "2026-01-02T03:04:05Z",
    "updated_at": "2026-01-02T03:04:05Z", "counts": {"completed": 1, "running": 2},
    "best": TRIAL, "paused_reason": None,
    "failures": [{"failure_class": "config", "message": "unknown dataset", "count": 2}],
    "pool": "a100", "waiting_for": "no live worker in pool a100",
    "imported_trials": 0,
    "budget": {"n_trials": 20, "trials_used": 3, "trials_left": 17, "max_seconds": 7200.0,
               "seconds_used": 812.5, "seconds_left": 6387.5, "max_trial_seconds": None,
               "target": 0.98, "stop_reason": None},
    "stop_reason": None,
}  # fmt: skip
LEASE: dict[str, Any] = {
    "trial_id": 7, "study_id": 2, "number": 3, "attempt": 1, "params": {"lr": 0.01},
    "config": {"task": {}, "params": {"lr": 0.01}, "seed": 3}, "lease_token": "hpol_x",
    "lease_expires_at": "2026-01-02T03:09:05Z", "sync_reports": False,
}  # fmt: skip


def test_a_lease_is_read_as_attributes_with_an_aware_expiry() -> None:
    lease = Lease.from_json(LEASE)
    assert (lease.trial_id, lease.lease_token, lease.params) == (7, "hpol_x", {"lr": 0.01})
    assert lease.lease_expires_at == datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC)
    with pytest.raises(FrozenInstanceError):
        lease.trial_id = 8  # type: ignore[misc]
    # An older server's lease says nothing of its reports: each is sent for its answer.
    older = {k: v for k, v in LEASE.items() if k != "sync_reports"}
    assert lease.sync_reports is False and Lease.from_json(older).sync_reports is True


def test_a_study_nests_its_best_trial_and_counts() -> None:
    study = StudyView.from_json(STUDY)
    assert isinstance(study.best, TrialView) and study.best.value == 0.91
    assert study.state is StudyState.RUNNING and study.direction is Direction.MAXIMIZE
    assert study.best.state is TrialState.COMPLETED
    assert study.n_finished == 1 and study.counts["running"] == 2
    created = CreatedStudy.from_json({**STUDY, "client_token": "hpoc_y"})
    assert created.client_token == "hpoc_y" and created.name == "s"


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (TrialView, TRIAL),
        (StudyView, STUDY),
        (Lease, LEASE),
        (TrialPage, {"items": [TRIAL, TRIAL], "total": 9, "offset": 0, "limit": 2}),
        (BestConfig, {"study_id": 2, "trial_id": 7, "number": 3, "value": 0.91,
                      "metric": "val_accuracy", "direction": "maximize",
                      "params": {"lr": 0.01}, "config": {"seed": 3},
                      "values": [0.91, 100.0], "pick": "knee"}),
    ],
)  # fmt: skip
def test_to_json_gives_back_what_the_api_sent(cls: type[Any], data: dict[str, Any]) -> None:
    assert json.dumps(cls.from_json(data).to_json()) == json.dumps(data)


def test_fields_a_newer_api_adds_are_ignored() -> None:
    assert Lease.from_json({**LEASE, "new_field": 1}) == Lease.from_json(LEASE)


def test_the_client_and_the_wire_load_no_storage_or_service_code() -> None:
    code = (
        "import sys, hpo.client, hpo.wire, hpo.worker; "
        "print(sorted({m.split('.')[0] + '.' + m.split('.')[1] if m.startswith('hpo.') else "
        "m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'hpo.storage', 'hpo.service', "
        "'fastapi', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
