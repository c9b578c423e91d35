"""`hpo train` as a user runs it: a real subprocess on a 2-epoch config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.e2e

HPO = Path(sys.executable).parent / "hpo"
CONFIG = {
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2, "metric": "val_accuracy"},
    "params": {"depth": 1, "width": 32, "lr": 3.0e-3, "batch_size": 64, "optimizer": "adam"},
    "seed": 0,
}


def _hpo(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HPO_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run(
        [str(HPO), *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "mlp_digits.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def test_train_json_and_out(tmp_path: Path, config_file: Path) -> None:
    out = tmp_path / "run"
    proc = _hpo("train", config_file, "--json", "--out", out, "--device", "cpu", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert 0.5 < summary["val_accuracy"] <= 1 and 0.5 < summary["test_accuracy"] <= 1
    assert summary["status"] == "completed" and summary["final"] is False
    run = summary["runs"][0]
    assert run["epochs_run"] == 2 and len(run["history"]) == 2 and run["device"] == "cpu"

    written = yaml.safe_load((out / "config.yaml").read_text())
    assert written["task"]["epochs"] == 2 and written["params"]["width"] == 32
    assert written["seed"] == 0
    assert written["provenance"]["torch_version"] == torch.__version__
    assert written["provenance"]["hpo_version"] and written["provenance"]["dataset"] == "digits"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] == summary["test_accuracy"]
    weights = torch.load(out / metrics["runs"][0]["weights"])
    assert weights["blocks.0.linear.weight"].shape == (32, 64)


def test_train_final_reports_test_only(tmp_path: Path, config_file: Path) -> None:
    proc = _hpo("train", config_file, "--final", "--json", "--seeds", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["final"] is True and summary["val_accuracy"] is None
    assert 0.5 < summary["test_accuracy"] <= 1 and summary["test_accuracy_sd"] is not None
    assert summary["seeds"] == [0, 1]
    # train + validation: 1438 rows of digits in batches of 64 -> 23 steps per epoch
    assert all(r["history"][0]["val_accuracy"] is None for r in summary["runs"])


def test_train_prints_metrics_for_people(tmp_path: Path, config_file: Path) -> None:
    proc = _hpo("train", config_file, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "validation accuracy" in proc.stdout and "test accuracy" in proc.stdout
    assert "val_accuracy" in proc.stderr  # the progress bar's metric


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**CONFIG, "params": {"activation": "swish"}}))
    proc = _hpo("train", bad, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert "valid: relu, leaky_relu" in proc.stderr
    missing = _hpo("train", tmp_path / "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
