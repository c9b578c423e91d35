"""`hpo serve` as a real process: it refuses a non-loopback bind without an admin token unless
told so, and no token (bearer or lease) ever reaches its log, even at debug level."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hpo.client import ApiError, Client
from tests.e2e._servers import free_port, hpo_argv
from tests.faults._harness import ApiServer, start_sim_worker

pytestmark = pytest.mark.e2e

ADMIN, WORKER = "adm-9f3c2e71b8d44a0f", "wrk-5d1a8c0e6b2f4973"
SPEC: dict[str, Any] = {
    "name": "no-leaks",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"x": {"type": "int", "low": 0, "high": 5}},
    "sampler": "grid",
    "budget": {"n_trials": 6, "max_parallel": 2},
}


def _serve(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
    full_env = {**inherited, "HPO_DATA_DIR": str(tmp_path), **env}
    argv = hpo_argv("serve", "--port", str(free_port()), *args)
    return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env", [{}, {"HPO_WORKER_TOKEN": WORKER}], ids=["no-token", "worker-only"])
def test_non_loopback_bind_without_admin_token_is_refused(
    tmp_path: Path, env: dict[str, str]
) -> None:
    done = _serve(tmp_path, "--host", "0.0.0.0", env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing to serve on 0.0.0.0" in lines[0], done.stderr
    assert "HPO_API_TOKEN" in lines[0] and "--allow-unauthenticated" in lines[0]
    assert not (tmp_path / "hpo.db").exists()  # refused before touching anything


def test_allow_unauthenticated_lets_it_bind(tmp_path: Path) -> None:
    server = ApiServer(tmp_path, {"HPO_HOST": "0.0.0.0"}, args=("--allow-unauthenticated",))
    server.start()
    try:
        assert "open to anyone who can reach 0.0.0.0" in server.log.read_text()
    finally:
        server.stop()


def test_tokens_never_appear_in_the_server_log(tmp_path: Path) -> None:
    env = {
        "HPO_API_TOKEN": ADMIN,
        "HPO_WORKER_TOKEN": WORKER,
        "HPO_LOG_LEVEL": "debug",
        "HPO_LEASE_SECONDS": "2",
    }
    server = ApiServer(tmp_path, env)
    server.start()
    lease_tokens: list[str] = []
    try:
        admin = Client(server.url, token=ADMIN, retries=0)
        worker = Client(server.url, token=WORKER, retries=0)
        study = admin.create_study(SPEC)
        lease = worker.claim("leak-check")
        assert lease is not None
        lease_tokens.append(lease["lease_token"])
        worker.heartbeat(lease["trial_id"], lease["lease_token"])
        worker.report(lease["trial_id"], lease["lease_token"], 1, 0.5)
        worker.complete(lease["trial_id"], lease["lease_token"], 0.5)
        # Refusals of every kind, which a careless handler might log with their input.
        for call in (
            lambda: Client(server.url, token=WORKER, retries=0).delete_study(study["id"]),
            lambda: Client(server.url, token=ADMIN + "x", retries=0).create_study(SPEC),
            lambda: worker.complete(lease["trial_id"], WORKER, 0.7),
            lambda: worker.report(lease["trial_id"], ADMIN, 1, 0.1),
            lambda: admin.create_study({**SPEC, "budget": {"n_trials": -1}}),
        ):
            with pytest.raises(ApiError):
                call()
        httpx.get(f"{server.url}/api/v1/studies/{study['id']}", headers={"X-Token": ADMIN})
        # A simulated worker through its whole loop, with the worker token.
        journal = tmp_path / "journal.jsonl"
        sim = start_sim_worker(server.url, journal, name="sim", token=WORKER)
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and admin.get_study(study["id"])["state"] != "completed":
                time.sleep(0.2)
        finally:
            sim.kill()
            sim.wait()
        assert admin.get_study(study["id"])["state"] == "completed"
        trials = admin.trials(study["id"])["items"]
        assert len(trials) == 6
    finally:
        server.stop()
    log = server.log.read_text()
    assert "GET /api/v1/studies" in log or "POST /api/v1/workers/claim" in log, "no access log"
    for secret in (ADMIN, WORKER, *lease_tokens):
        assert secret not in log, f"a token leaked into the server log: {secret[:4]}..."
    worker_log = journal.with_suffix(".sim.log").read_text()
    assert ADMIN not in worker_log and WORKER not in worker_log
