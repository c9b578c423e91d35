"""A worker SIGKILLed in the middle of a built-in trial: the requeued attempt, on another
worker, restores the uploaded checkpoint and resumes from its last finished epoch (it does not
start over), its final metrics equal those of an uninterrupted run with the same seed, and the
completed trial keeps the trained weights (`hpo best --artifacts`). Real `hpo serve` and `hpo
worker` processes over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from tests.faults._harness import ROOT, api_server, kill_worker, start_cli_worker, wait_for
from trainers.config import build_run_config, run_training

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN, WORKER = "admin-resume-e2e", "worker-resume-e2e-0123456789"
# Enough epochs that the trial outlasts a few of the worker's report batches (about one a
# second, hpo/worker/reports.py): the kill below waits for a batch past epoch 3.
EPOCHS = 30
SPEC: dict[str, Any] = {
    "name": "resume",
    "task": {"model": "mlp", "dataset": "digits", "epochs": EPOCHS, "metric": "val_accuracy"},
    "space": {"width": {"type": "categorical", "choices": [48]}},
    # Dropout, momentum and a schedule: each is state a restart would not reproduce. Batches
    # of 2 make an epoch long enough (0.1-0.4 s) to kill the worker in the middle of the trial.
    "fixed": {
        "depth": 2,
        "batch_size": 2,
        "lr": 0.01,
        "optimizer": "sgd",
        "momentum": 0.9,
        "dropout": 0.2,
        "schedule": "cosine",
    },
    "sampler": "grid",
    "budget": {"n_trials": 1, "max_parallel": 1, "max_attempts": 3},
    "seed": 7,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
    else:
        yield {"HPO_DATABASE_URL": request.getfixturevalue("pg_url")}


def _worker(api: Any, name: str, log: Path) -> subprocess.Popen[bytes]:
    return start_cli_worker(api, name, log, WORKER, "--threads", "1")


_stop = kill_worker


def test_a_killed_builtin_trial_resumes_where_it_stopped(
    tmp_path: Path, database_env: dict[str, str]
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    env = {"HPO_API_TOKEN": ADMIN, "HPO_WORKER_TOKEN": WORKER, "HPO_LEASE_SECONDS": "5",
           **database_env}  # fmt: skip
    with api_server(tmp_path, env) as api:
        http = httpx.Client(base_url=api.url, headers=admin, timeout=30)
        study = http.post("/api/v1/studies", json=SPEC).json()
        first = _worker(api, "first", tmp_path / "first.log")
        try:

            def trial() -> dict[str, Any]:
                items = http.get(f"/api/v1/studies/{study['id']}/trials").json()["items"]
                return dict(items[0]) if items else {}

            def checkpointed_past_three() -> bool:
                t = trial()
                if not t or (t.get("last_step") or 0) < 3:
                    return False
                names = [a["name"] for a in http.get(f"/api/v1/trials/{t['id']}/artifacts").json()]
                return "checkpoint/training-state.pt" in names

            wait_for(checkpointed_past_three, 120, "epoch 3 reported and checkpointed", poll=0.05)
            first.kill()  # SIGKILL, in the middle of the trial
            first.wait(timeout=30)
            killed_at = trial()["last_step"]
            assert trial()["state"] == "running" and killed_at < EPOCHS
        finally:
            _stop(first)
        second = _worker(api, "second", tmp_path / "second.log")
        try:
            wait_for(lambda: trial().get("state") == "completed", 120, "the resumed trial")
        finally:
            _stop(second)
        done = trial()
        trial_id = done["id"]
        logs = {
            n: http.get(f"/api/v1/trials/{trial_id}/logs", params={"attempt": n}).text
            for n in (1, 2)
        }
        tail = http.get(f"/api/v1/trials/{trial_id}/logs", params={"tail": 3})
        config = http.get(f"/api/v1/studies/{study['id']}/best").json()["config"]
        cli_env = {**api.env, "HPO_TOKEN": ADMIN}
        cli_logs = subprocess.run(
            [sys.executable, "-m", "hpo.cli", "logs", str(trial_id), "--tail", "3", "--follow",
             "--api", api.url],
            capture_output=True, text=True, cwd=ROOT, env=cli_env, timeout=60,
        )  # fmt: skip
        best = subprocess.run(
            [sys.executable, "-m", "hpo.cli", "best", str(study["id"]), "--api", api.url,
             "--artifacts", str(tmp_path / "best")],
            capture_output=True, text=True, cwd=ROOT, env=cli_env,
        )  # fmt: skip
    assert done["attempt"] == 2 and done["worker_id"] == "second", done
    metrics = done["metrics"]
    resumed_from = metrics["resumed_from"]
    # Resumed, not restarted: from the last checkpoint uploaded, at most the epoch in flight
    # when the worker died is trained again.
    assert killed_at - 1 <= resumed_from <= killed_at, (killed_at, resumed_from)
    assert metrics["epochs_run"] == EPOCHS

    # The same numbers as a run never interrupted (same config, seed and thread count).
    whole = run_training(build_run_config(config, device="cpu", threads=1), keep_weights=True)
    assert metrics["curve"] == [r.val_accuracy for r in whole.history]
    assert (done["value"], metrics["val_loss"], metrics["train_loss"], metrics["best_epoch"]) == (
        whole.val_accuracy,
        whole.val_loss,
        whole.train_loss,
        whole.best_epoch,
    )

    # Each attempt's log holds its own epochs; the tail is what the second worker printed last.
    epoch_lines = [
        f"epoch {r.epoch}: train_loss={r.train_loss:.6g} val_accuracy={r.val_accuracy:.6g}"
        for r in whole.history
    ]
    # The log goes up about once a second, so a SIGKILL may lose its last second: what
    # attempt 1 logged (perhaps nothing yet) is the start of the uninterrupted run's epochs.
    logged_first = [line for line in logs[1].splitlines() if line.startswith("epoch ")]
    assert logged_first == epoch_lines[: len(logged_first)], logged_first
    assert "restored the checkpoint of an earlier attempt" in logs[2]
    assert [line for line in logs[2].splitlines() if line.startswith("epoch ")] == epoch_lines[
        resumed_from:
    ]
    assert tail.headers["x-hpo-log-attempt"] == "2"
    assert tail.text.splitlines() == [
        *epoch_lines[-2:],
        f"trained {EPOCHS} epochs: val_accuracy={whole.val_accuracy:.6g} "
        f"(best epoch {whole.best_epoch})",
    ]

    # `hpo logs --follow` of a trial that is over prints its tail and returns.
    assert cli_logs.returncode == 0, cli_logs.stderr
    assert cli_logs.stdout == tail.text

    # The completed trial kept the trained weights: the winner's model without retraining.
    assert best.returncode == 0, best.stderr
    weights = torch.load(tmp_path / "best" / "output" / "model.pt", weights_only=True)
    assert whole.weights is not None and weights.keys() == whole.weights.keys()
    for name, tensor in whole.weights.items():
        assert weights[name].equal(tensor), name
