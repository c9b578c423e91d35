"""A real `hpo worker` whose trial disappears mid-training (its study deleted: the API answers
404 for the trial) abandons the trial and goes on; it used to die with a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults._harness import ROOT, all_trials, api_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC: dict[str, Any] = {
    "name": "deleted-mid-trial",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 400},
    "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
    "fixed": {"depth": 1, "width": 8, "batch_size": 512},
    "sampler": "random",
    "budget": {"n_trials": 2, "max_parallel": 1},
}


def test_worker_abandons_a_trial_whose_study_was_deleted(tmp_path: Path) -> None:
    with api_server(tmp_path, {"HPO_LEASE_SECONDS": "30"}) as api:
        study = httpx.post(f"{api.url}/api/v1/studies", json=SPEC).json()
        log = tmp_path / "worker.log"
        argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", api.url, "--device", "cpu",
                "--exit-when-idle", "--poll-seconds", "0.2", "-v"]  # fmt: skip
        with log.open("wb") as out:
            worker = subprocess.Popen(argv, stdout=out, stderr=out, cwd=ROOT, env=api.env)
        try:

            def training() -> bool:
                trials = all_trials(api.url, study["id"])
                return any(t["state"] == "running" and t["last_step"] for t in trials)

            wait_for(training, 120, "the worker to report an epoch")
            assert httpx.delete(f"{api.url}/api/v1/studies/{study['id']}").status_code == 204
            # Nothing left to claim: the worker abandons the trial, finds no work, exits.
            code = worker.wait(timeout=120)
        finally:
            if worker.poll() is None:
                worker.kill()
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
