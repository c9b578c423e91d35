"""End to end: `hpo serve`, a `hpo worker` and `hpo compare FILE --final` as real processes
run a tiny comparison (three samplers x two seeds on digits, one epoch) to its ranking and
record each sampler's winner's test accuracy on the comparison."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e._servers import hpo_argv, running_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

COMPARISON: dict[str, Any] = {
    "name": "tiny",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1, "metric": "val_accuracy"},
    "space": {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True, "grid_points": 3},
        "width": {"type": "categorical", "choices": [16, 64]},
    },
    "fixed": {"depth": 1, "batch_size": 64},
    "samplers": ["grid", "random", "lipo"],
    "n_trials": 3,
    "repeats": 2,
    "seed": 5,
}


@pytest.fixture
def server(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=30) as (url, env):
        yield url, env


@pytest.fixture
def worker(server: tuple[str, dict[str, str]], tmp_path: Path) -> Iterator[None]:
    url, env = server
    log = (tmp_path / "worker.log").open("wb")
    argv = hpo_argv("worker", "--api", url, "--device", "cpu", "--poll-seconds", "0.2")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    yield
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_compare_runs_ranks_and_records_final_test_metrics(
    server: tuple[str, dict[str, str]], worker: None, tmp_path: Path
) -> None:
    url, env = server
    spec_file = tmp_path / "compare.yaml"
    spec_file.write_text(yaml.safe_dump(COMPARISON))
    argv = hpo_argv("compare", str(spec_file), "--api", url, "--final", "--final-seeds", "2",
                    "--final-out", str(tmp_path / "final"), "--poll-seconds", "0.3")  # fmt: skip
    proc = subprocess.run(argv, env={**env, "COLUMNS": "120"}, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "created comparison 1 (tiny): 6 studies, grid, random, lipo x 2 seeds" in out
    assert f"web page: {url}/comparisons/1" in out
    assert "best val_accuracy (maximize), 3 trials x 2 seeds" in out
    for sampler in ("grid", "random", "lipo"):
        assert f"{sampler}: test_accuracy " in out

    view = httpx.get(f"{url}/api/v1/comparisons/1").json()
    assert view["state"] == "completed" and view["n_finished"] == view["n_total"] == 18
    assert [s["seed"] for s in view["studies"]] == [5, 6] * 3
    assert sorted(r["rank"] for r in view["results"]) in ([1, 2, 3], [1, 1, 3], [1, 2, 2])
    for result in view["results"]:
        assert len(result["best_values"]) == 2 and None not in result["best_values"]
        assert 0 < result["test_metric"] <= 1 and result["test_metric_sd"] is not None
        assert result["final"]["seeds"] == [5, 6] or result["final"]["seeds"] == [6, 7]
        # The ranking table printed the same test accuracy the API stored.
        assert f"{result['test_metric']:.3f}" in out
        weights = list((tmp_path / "final" / result["sampler"]).glob("weights_seed*.pt"))
        assert len(weights) == 2
    for curves in view["curves"].values():
        assert curves["by_trial"]["x"] == [1, 2, 3] and None not in curves["by_trial"]["median"]
        assert len(curves["by_time"]["x"]) >= 3


def test_compare_errors_are_one_line(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = server
    spec_file = tmp_path / "compare.yaml"
    spec_file.write_text(yaml.safe_dump({**COMPARISON, "space": {"x": {"type": "float"}}}))
    cases = [
        (hpo_argv("compare", str(tmp_path / "missing.yaml"), "--api", url), "cannot read"),
        (hpo_argv("compare", str(spec_file), "--api", url), "invalid comparison"),
        (hpo_argv("compare", "--id", "99", "--api", url), "comparison 99 not found"),
        (hpo_argv("compare", "--api", url), "give a comparison file"),
    ]
    for argv, needle in cases:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert needle in proc.stderr
    assert httpx.get(f"{url}/api/v1/comparisons").json() == []
