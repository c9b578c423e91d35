"""The sbatch script of `hpo deploy slurm`, run natively as Slurm would run it (no Slurm here):
bash runs the whole script with the SLURM_* variables an array task has, and mid-trial the
batch shell's process gets SIGTERM, which is what `--signal=B:TERM@120` does before the time
limit (B: the batch shell only, not its children). The script execs the worker, so that
process is the worker: it finishes its epoch, hands the trial back (requeued at once, attempt
2, long before the 300 s lease could expire) and exits 0. Had the script run the worker as
a child instead, bash would die of the signal (exit -15) and the worker train on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from hpo.cli import cli
from tests.e2e._servers import running_server
from tests.e2e.test_deploy_kubernetes import WORKER_HAS_POOLS
from tests.e2e.test_worker_signals import SPEC

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_SECONDS = 300  # a requeue within the test cannot come from the reaper
POOL = "gpu-a"
TOKENS = {"HPO_API_TOKEN": "admin-" + uuid.uuid4().hex, "HPO_WORKER_TOKEN": "w-" + uuid.uuid4().hex}


@pytest.fixture
def server(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=LEASE_SECONDS, extra_env=TOKENS) as s:
        yield s


def sbatch_script(api: str, token_file: Path) -> str:
    result = CliRunner().invoke(
        cli,
        ["deploy", "slurm", "--api", api, "--pool", POOL, "--gpus-per-task", "0",
         "--token-file", str(token_file), "--array", "0-3%2", "--time", "00:30:00"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = result.output
    if not WORKER_HAS_POOLS:  # TODO(pools): the flag lands with the pools branch
        text = text.replace(f" --pool {POOL}", "")
    return text


def test_slurms_term_to_the_batch_shell_hands_the_trial_back_and_exits_0(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, server_env = server
    admin = {"Authorization": f"Bearer {TOKENS['HPO_API_TOKEN']}"}
    spec: dict[str, Any] = {**SPEC, "name": "slurm-sigterm"}
    if WORKER_HAS_POOLS:
        spec["resources"] = {"pool": POOL}
    created = httpx.post(f"{url}/api/v1/studies", json=spec, headers=admin, timeout=10)
    assert created.status_code == 201, created.text
    study_id = created.json()["id"]

    token_file = tmp_path / "worker-token"
    token_file.write_text(TOKENS["HPO_WORKER_TOKEN"] + "\n")
    token_file.chmod(0o600)
    script = tmp_path / "hpo-workers.sbatch"
    script.write_text(sbatch_script(url, token_file))
    # An array task's environment: no token in it (the script reads the file).
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path / "home"),
        "HPO_CACHE_DIR": server_env["HPO_CACHE_DIR"],
        "SLURM_ARRAY_JOB_ID": "4242",
        "SLURM_ARRAY_TASK_ID": "3",
        # Each report at once (not batched a second): the test waits for a trial mid-training.
        "HPO_WORKER_REPORT_SECONDS": "0",
    }
    log_path = tmp_path / "task.log"
    with log_path.open("wb") as log:
        batch = subprocess.Popen(["bash", str(script)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        running: dict[str, Any] | None = None
        while time.monotonic() < deadline and running is None:
            assert batch.poll() is None, log_path.read_text()
            page = httpx.get(
                f"{url}/api/v1/studies/{study_id}/trials", params={"state": "running"},
                headers=admin, timeout=5,
            ).json()  # fmt: skip
            running = next((t for t in page["items"] if (t["last_step"] or 0) >= 1), None)
            if running is None:
                time.sleep(0.05)
        assert running is not None, f"no trial reached epoch 1: {log_path.read_text()}"
        assert running["worker_id"] == "slurm-4242_3"
        # The batch shell's process is the worker now (exec), not a bash waiting on it.
        cmdline = Path(f"/proc/{batch.pid}/cmdline").read_bytes().split(b"\0")
        assert b"worker" in cmdline and not cmdline[0].endswith(b"bash"), cmdline

        batch.send_signal(signal.SIGTERM)  # Slurm's B:TERM, to the batch shell's pid
        code = batch.wait(timeout=30)
    finally:
        if batch.poll() is None:
            batch.kill()
            batch.wait()
    assert code == 0, log_path.read_text()

    items = httpx.get(
        f"{url}/api/v1/studies/{study_id}/trials", params={"limit": 100}, headers=admin,
        timeout=5,
    ).json()["items"]  # fmt: skip
    view = next(t for t in items if t["id"] == running["id"])
    assert view["state"] == "queued", view  # handed back, not lost
    assert view["failure_class"] == "lost", view
    assert view["attempt"] == 2, view
    assert view["params"] == running["params"]
    study = httpx.get(f"{url}/api/v1/studies/{study_id}", headers=admin, timeout=5).json()
    assert study["counts"].get("failed", 0) == 0, study
