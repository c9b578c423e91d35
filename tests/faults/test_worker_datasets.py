"""A real `hpo worker` never publishes its own files (issue 11, defect 4). A study whose
dataset was `csv:/proc/self/cmdline?label=x` used to put the worker's command line, its
--token included, into the trial's failure message; `/etc/passwd` gave its first line. The
server here lets absolute paths through (`HPO_DATASET_ROOTS=/`) so that the worker's own
rule is what is tested: its data roots, and messages that never carry a file's content.
And our tools never put a token on a command line: a worker's slots get it by environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.faults._harness import ROOT, api_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN, WORKER = "admin-datasets-e2e", "worker-token-e2e-0123456789"
SECRET = "s3cret-outside-the-roots"


def spec(name: str, dataset: str) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": dataset, "epochs": 1},
        "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
        "fixed": {"depth": 1, "width": 8},
        "sampler": "random",
        "budget": {"n_trials": 1, "max_parallel": 1, "max_attempts": 1},
    }


def without_tokens(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.endswith("_TOKEN")}


def test_a_worker_refuses_paths_outside_its_roots_without_publishing_them(
    tmp_path: Path,
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER, "HPO_DATASET_ROOTS": "/"}
    (tmp_path / "secret.csv").write_text(f"label,{SECRET}\nx,1\ny,2\n")
    datasets = tmp_path / "data" / "datasets"  # the worker's default root: $HPO_DATA_DIR/datasets
    datasets.mkdir(parents=True)
    rows = "".join(f"{i % 7},{i % 5},{'ab'[i % 2]}\n" for i in range(60))
    (datasets / "good.csv").write_text("a,b,label\n" + rows)
    attacks = {
        "cmdline": "csv:/proc/self/cmdline?label=x",
        "environ": "csv:/proc/self/environ?label=x",
        "passwd": "csv:/etc/passwd?label=x",
        "outside": f"csv:{tmp_path}/secret.csv?label=label",
    }
    with api_server(tmp_path, env) as api:
        ids = {}
        for name, dataset in {**attacks, "good": "csv:good.csv?label=label"}.items():
            response = httpx.post(
                f"{api.url}/api/v1/studies", json=spec(name, dataset), headers=admin
            )
            assert response.status_code == 201, response.text
            ids[name] = response.json()["id"]
        log = tmp_path / "worker.log"
        # The worst case of the report: the token on the worker's own command line.
        argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", api.url, "--device", "cpu",
                "--exit-when-idle", "--poll-seconds", "0.2", "--token", WORKER]  # fmt: skip
        with log.open("wb") as out:
            worker = subprocess.Popen(
                argv, stdout=out, stderr=out, cwd=ROOT, env=without_tokens(api.env)
            )
        try:
            code = worker.wait(timeout=300)
        finally:
            if worker.poll() is None:
                worker.kill()
        trials = {
            name: httpx.get(f"{api.url}/api/v1/studies/{study_id}/trials", headers=admin).json()[
                "items"
            ]
            for name, study_id in ids.items()
        }
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "--token is visible to every user of this machine" in text
    assert [t["state"] for t in trials["good"]] == ["completed"], trials["good"]
    for name in attacks:
        (trial,) = trials[name]
        message = trial["failure_message"]
        assert (trial["state"], trial["failure_class"]) == ("failed", "config"), trial
        assert "outside this worker's data roots" in message and str(datasets) in message
        for leaked in (WORKER, "root:", SECRET, "hpo.cli", "PATH="):
            assert leaked not in message, f"{name}: {message!r}"


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_worker_slots_take_the_token_from_the_environment_not_argv(tmp_path: Path) -> None:
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER, "HPO_LOG_LEVEL": "info"}
    token_file = tmp_path / "worker-token"
    token_file.write_text(WORKER + "\n")
    token_file.chmod(0o600)
    with api_server(tmp_path, env) as api:
        # Two slots on "GPU 0": a supervisor and two child workers (they only poll: no study).
        argv = [sys.executable, "-m", "hpo.cli", "worker", "--api", api.url, "--gpus", "0",
                "--slots-per-device", "2", "--token-file", str(token_file),
                "--poll-seconds", "0.2"]  # fmt: skip
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            parent = subprocess.Popen(
                argv, stdout=out, stderr=out, cwd=ROOT, env=without_tokens(api.env)
            )
        try:
            wait_for(lambda: len(_children(parent.pid)) == 2, 60, "two worker slots")
            children = _children(parent.pid)
            for pid in [parent.pid, *children]:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                assert WORKER.encode() not in cmdline, cmdline
                assert b"--token\0" not in cmdline, cmdline
            for pid in children:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                assert f"HPO_WORKER_TOKEN={WORKER}".encode() in environ

            # The slots authenticate with it: their claims answer 204 (no work), never 401.
            def claims(status: int) -> int:
                return api.log.read_text().count(f'/api/v1/workers/claim HTTP/1.1" {status}')

            wait_for(lambda: claims(204) >= 6, 60, "the slots' claims")
            assert claims(401) == 0 and claims(403) == 0
        finally:
            if parent.poll() is None:
                os.kill(parent.pid, signal.SIGTERM)
                try:
                    parent.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    parent.kill()
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
