"""End to end: SIGTERM to an `hpo worker` mid-trial. The worker finishes its epoch, fails the
trial as `lost` and exits 0 within seconds; the API requeues the trial at once (same params,
attempt 2) instead of waiting for the lease to expire (300 s here, far beyond the test)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._servers import hpo_argv, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_SECONDS = 300  # a requeue within the test cannot come from the reaper

SPEC: dict[str, Any] = {
    "name": "e2e-worker-sigterm",
    # Many short epochs: the trial is still running when the signal lands after epoch 1.
    "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 30, "metric": "val_accuracy"},
    "space": {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True},
        "width": {"type": "int", "low": 16, "high": 32},
    },
    "fixed": {"depth": 1, "batch_size": 64, "optimizer": "adam", "activation": "relu"},
    "sampler": "random",
    "budget": {"n_trials": 2, "max_parallel": 1, "max_attempts": 3},
}


@pytest.fixture
def server(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=LEASE_SECONDS) as (url, env):
        yield url, env


def test_sigterm_mid_trial_requeues_at_once_and_exits_0(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = server
    created = httpx.post(f"{url}/api/v1/studies", json=SPEC, timeout=10)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    worker_log = tmp_path / "worker.log"
    with worker_log.open("wb") as log:
        worker = subprocess.Popen(
            # Each report at once: the test waits for a trial seen mid-training.
            hpo_argv("worker", "--api", url, "--device", "cpu", "--poll-seconds", "0.2",
                     "--report-seconds", "0", "-v"),
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        # Wait until the worker is mid-trial: running, at least one epoch reported.
        deadline = time.monotonic() + 40
        running: dict[str, Any] | None = None
        while time.monotonic() < deadline and running is None:
            assert worker.poll() is None, worker_log.read_text()
            page = httpx.get(
                f"{url}/api/v1/studies/{study_id}/trials", params={"state": "running"}, timeout=5
            ).json()
            running = next((t for t in page["items"] if (t["last_step"] or 0) >= 1), None)
            if running is None:
                time.sleep(0.05)
        assert running is not None, f"no trial reached epoch 1: {worker_log.read_text()}"
        assert running["attempt"] == 1
        assert running["last_step"] < SPEC["task"]["epochs"]

        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=15)
        exited_after = time.monotonic() - signalled
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, worker_log.read_text()
    assert exited_after < 10, f"the worker took {exited_after:.1f} s to stop"

    # Requeued at once: the lease (300 s) has not expired, so this is the worker's `lost` fail.
    items = httpx.get(
        f"{url}/api/v1/studies/{study_id}/trials", params={"limit": 100}, timeout=5
    ).json()["items"]
    view = next(t for t in items if t["id"] == running["id"])
    assert view["state"] == "queued", view
    assert view["failure_class"] == "lost", view
    assert view["attempt"] == 2, view
    assert view["worker_id"] is None
    assert time.monotonic() - signalled < LEASE_SECONDS

    # The next claim gets the same trial back, same params, attempt 2.
    claim = httpx.post(
        f"{url}/api/v1/workers/claim", json={"worker_id": "e2e-next", "devices": ["cpu"]},
        timeout=10,
    )  # fmt: skip
    assert claim.status_code == 200, claim.text
    lease = claim.json()
    assert lease["trial_id"] == running["id"]
    assert lease["attempt"] == 2
    assert lease["params"] == running["params"]
    study = httpx.get(f"{url}/api/v1/studies/{study_id}", timeout=5).json()
    assert study["counts"].get("failed", 0) == 0, study
