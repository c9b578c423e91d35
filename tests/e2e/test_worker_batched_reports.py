"""End to end: a real `hpo serve` and a real `hpo worker` on SQLite and PostgreSQL. Without a
pruner, the worker batches its reports (about one request a second, the rest with the
result): the server counts far fewer report requests than epochs (`hpo_http_requests_total`
on /metrics, by route), and every epoch's report is stored, the curve whole. With a pruner,
every epoch's report is its own request (its answer may say stop)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._servers import hpo_argv, running_server
from tests.faults.conftest import pg_url  # noqa: F401  (the PostgreSQL fixture)

pytestmark = [pytest.mark.e2e]

EPOCHS = 30
REPORTS_ROUTE = "/api/v1/trials/{trial_id}/reports"


def spec(name: str, n_trials: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "digits", "epochs": EPOCHS, "metric": "val_accuracy"},
        "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
        "fixed": {"depth": 1, "width": 16, "batch_size": 256},
        "sampler": "random",
        "budget": {"n_trials": n_trials, "max_parallel": 1},
        **extra,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def url(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = (
        {} if request.param == "sqlite" else {"HPO_DATABASE_URL": request.getfixturevalue("pg_url")}
    )
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=60, extra_env=env) as (base, _env):
        yield base


def report_requests(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = (
        r'hpo_http_requests_total\{method="POST",route="' + re.escape(REPORTS_ROUTE)
        + r'",status="200"\} (\S+)'
    )  # fmt: skip
    return int(sum(float(n) for n in re.findall(pattern, text)))


def run_worker(url: str, tmp_path: Path, study: dict[str, Any]) -> list[dict[str, Any]]:
    """`hpo worker` until the study has no work left; the study's trials."""
    argv = hpo_argv("worker", "--api", url, "--device", "cpu", "--exit-when-idle",
                    "--no-warm-up", "--poll-seconds", "0.2")  # fmt: skip
    log = tmp_path / f"worker-{study['id']}.log"
    with log.open("wb") as out:
        code = subprocess.run(argv, stdout=out, stderr=out, timeout=300).returncode
    assert code == 0, log.read_text()
    trials = httpx.get(f"{url}/api/v1/studies/{study['id']}/trials", timeout=10).json()["items"]
    assert trials and all(t["state"] == "completed" for t in trials), (trials, log.read_text())
    return list(trials)


def create(url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{url}/api/v1/studies", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def seconds(trial: dict[str, Any]) -> float:
    started, finished = (datetime.fromisoformat(trial[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


def test_a_worker_without_a_pruner_batches_its_reports_and_keeps_the_curve_whole(
    url: str, tmp_path: Path
) -> None:
    study = create(url, spec("batched", n_trials=2))
    before = report_requests(url)
    trials = run_worker(url, tmp_path, study)
    sent = report_requests(url) - before

    epochs = EPOCHS * len(trials)
    # At most one request a second per trial, counted from its start (the rest goes with the
    # result): bounded by how long the trials ran (a spare each), far below one per epoch.
    assert sent <= sum(int(seconds(t)) + 2 for t in trials), (sent, [seconds(t) for t in trials])
    assert sent < epochs / 3, (sent, epochs)
    curves = httpx.get(
        f"{url}/api/v1/studies/{study['id']}/curves", params={"max_points": 1000}, timeout=10
    ).json()["curves"]
    by_number = {c["number"]: c for c in curves}
    for t in trials:
        curve = by_number[t["number"]]
        assert curve["step"] == list(range(1, EPOCHS + 1)), curve
        # The stored reports are the epochs' validation accuracies, the trainer's own history.
        assert curve["value"] == t["metrics"]["curve"]
        assert t["last_step"] == EPOCHS and t["last_report_value"] == curve["value"][-1]


def test_a_worker_with_a_pruner_sends_every_report_for_its_answer(url: str, tmp_path: Path) -> None:
    # n_startup_trials 5 with one trial: nothing to compare with, nothing pruned.
    pruner = {"name": "median", "options": {"n_startup_trials": 5}}
    study = create(url, spec("answered", n_trials=1, pruner=pruner))
    before = report_requests(url)
    (trial,) = run_worker(url, tmp_path, study)
    assert report_requests(url) - before == EPOCHS
    assert trial["last_step"] == EPOCHS
