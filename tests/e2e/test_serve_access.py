"""`hpo serve` as a real process: it refuses a non-loopback bind without an admin token unless
told so, and no token (bearer, lease or client, in a header or a query string) ever reaches its
log, even at debug level; it says at start who may read; the `hpo` read commands send a token;
a study's client token runs ask/tell from the Python client and `hpo study create`."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hpo.client import ApiError, Client
from tests.e2e._servers import free_port, hpo_argv
from tests.faults._harness import ApiServer, start_sim_worker

pytestmark = pytest.mark.e2e

ADMIN, WORKER = "adm-9f3c2e71b8d44a0f", "wrk-5d1a8c0e6b2f4973"
READ = "rd-2b7e4c9a0f1d5e38"
SPEC: dict[str, Any] = {
    "name": "no-leaks",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {"x": {"type": "int", "low": 0, "high": 5}},
    "sampler": "grid",
    "budget": {"n_trials": 6, "max_parallel": 2},
    "check_config": False,  # its params are not the trainers' (no trainer runs them)
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
        lease_tokens.append(lease.lease_token)
        worker.heartbeat(lease.trial_id, lease.lease_token)
        worker.report(lease.trial_id, lease.lease_token, 1, 0.5)
        worker.complete(lease.trial_id, lease.lease_token, 0.5)
        # Refusals of every kind, which a careless handler might log with their input.
        for call in (
            lambda: Client(server.url, token=WORKER, retries=0).delete_study(study.id),
            lambda: Client(server.url, token=ADMIN + "x", retries=0).create_study(SPEC),
            lambda: worker.complete(lease.trial_id, WORKER, 0.7),
            lambda: worker.report(lease.trial_id, ADMIN, 1, 0.1),
            lambda: admin.create_study({**SPEC, "budget": {"n_trials": -1}}),
        ):
            with pytest.raises(ApiError):
                call()
        httpx.get(f"{server.url}/api/v1/studies/{study.id}", headers={"X-Token": ADMIN})
        # Tokens in a query string (a pasted link, a careless client) are redacted.
        query = {"token": ADMIN, "access_token": lease.lease_token, "k": "3"}
        httpx.get(f"{server.url}/api/v1/studies/{study.id}/leaderboard", params=query)
        # A simulated worker through its whole loop, with the worker token.
        journal = tmp_path / "journal.jsonl"
        sim = start_sim_worker(server.url, journal, name="sim", token=WORKER)
        try:
            end = time.monotonic() + 60
            while time.monotonic() < end and admin.get_study(study.id).state != "completed":
                time.sleep(0.2)
        finally:
            sim.kill()
            sim.wait()
        assert admin.get_study(study.id).state == "completed"
        trials = admin.trials(study.id).items
        assert len(trials) == 6
    finally:
        server.stop()
    log = server.log.read_text()
    assert "GET /api/v1/studies" in log or "POST /api/v1/workers/claim" in log, "no access log"
    assert "leaderboard?token=REDACTED&access_token=REDACTED&k=3" in log
    for secret in (ADMIN, WORKER, *lease_tokens):
        assert secret not in log, f"a token leaked into the server log: {secret[:4]}..."
    worker_log = journal.with_suffix(".sim.log").read_text()
    assert ADMIN not in worker_log and WORKER not in worker_log


def _hpo(
    *args: str, url: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
    argv = hpo_argv(*args, "--api", url)
    full_env = {**inherited, "HPO_API_URL": url, **(env or {})}
    return subprocess.run(argv, env=full_env, capture_output=True, text=True, timeout=60)


def test_reads_need_a_token_and_the_cli_sends_one(tmp_path: Path) -> None:
    """With tokens set, reads take the read or admin token (a worker's is refused); `hpo serve`
    says so at start; `hpo study list/show`, `hpo leaderboard` and `hpo best` send
    HPO_READ_TOKEN (or HPO_API_TOKEN); without one they fail with one line saying why."""
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER, "HPO_READ_TOKEN": READ}
    server = ApiServer(tmp_path, env)
    server.start()
    try:
        assert "reads need HPO_READ_TOKEN or the admin token" in server.log.read_text()
        study = Client(server.url, token=ADMIN, retries=0).create_study(SPEC)
        worker = Client(server.url, token=WORKER, retries=0)
        lease = worker.claim("cli")
        assert lease is not None
        worker.complete(lease.trial_id, lease.lease_token, 0.5)
        studies = f"{server.url}/api/v1/studies"
        assert httpx.get(studies).status_code == 401
        assert httpx.get(studies, headers={"Authorization": f"Bearer {WORKER}"}).status_code == 403
        assert httpx.get(studies, headers={"Authorization": f"Bearer {READ}"}).status_code == 200
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/").status_code == 200  # the page; its data needs a token
        sid = str(study.id)
        commands = [("study", "list"), ("study", "show", sid), ("leaderboard", sid), ("best", sid)]
        for command in commands:
            refused = _hpo(*command, url=server.url)
            assert refused.returncode == 2, (command, refused.stdout, refused.stderr)
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1 and "need a token" in lines[0], (command, refused.stderr)
            for token_env in ({"HPO_READ_TOKEN": READ}, {"HPO_API_TOKEN": ADMIN}):
                done = _hpo(*command, url=server.url, env=token_env)
                assert done.returncode == 0, (command, token_env, done.stderr)
        best = _hpo("best", sid, url=server.url, env={"HPO_READ_TOKEN": READ}).stdout
        assert yaml.safe_load(best)["params"] == {"x": lease.params["x"]}
    finally:
        server.stop()


def test_public_read_opens_reads_and_says_so(tmp_path: Path) -> None:
    server = ApiServer(tmp_path, {"HPO_API_TOKEN": ADMIN}, args=("--public-read",))
    server.start()
    try:
        start = server.log.read_text()
        assert "--public-read: anyone who can reach the server reads every study" in start
        Client(server.url, token=ADMIN, retries=0).create_study(SPEC)
        assert [s["name"] for s in httpx.get(f"{server.url}/api/v1/studies").json()] == [
            SPEC["name"]
        ]
        # Writes still need the admin token.
        assert httpx.post(f"{server.url}/api/v1/studies", json=SPEC).status_code == 401
    finally:
        server.stop()


def test_a_client_token_runs_ask_tell_from_the_python_client(tmp_path: Path) -> None:
    """`hpo study create --client-token` prints the study's token once; `Client(token=...)`
    asks, reports and tells with it; it is refused for another study; it never reaches the
    server's log."""
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER, "HPO_LOG_LEVEL": "info"}
    server = ApiServer(tmp_path, env)
    server.start()
    try:
        spec_file = tmp_path / "own.yaml"
        spec_file.write_text(yaml.safe_dump({**SPEC, "sampler": "random"}))
        made = _hpo("study", "create", str(spec_file), "--client-token", url=server.url,
                    env={"HPO_API_TOKEN": ADMIN})  # fmt: skip
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1].split()[-1]
        assert token.startswith("hpoc_"), made.stdout
        admin = Client(server.url, token=ADMIN, retries=0)
        [own] = admin.list_studies()
        other = admin.create_study({**SPEC, "name": "someone-else"})

        study = Client(server.url, token=token, retries=0).study(own.id)
        for value in (0.25, 0.75):
            trial = study.ask()
            assert trial.report(1, value / 2) is False
            assert trial.tell(value).state == "completed"
        assert [t.value for t in admin.leaderboard(own.id)] == [0.75, 0.25]
        with pytest.raises(ApiError) as refused:
            Client(server.url, token=token, retries=0).ask(other.id)
        assert refused.value.status == 403
        assert f"study {own.id}'s client token" in str(refused.value)
    finally:
        server.stop()
    assert token not in server.log.read_text()
