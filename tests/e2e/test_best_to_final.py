"""End to end, the path the README gives: a study runs on `hpo serve` + `hpo worker`, then
`hpo best STUDY --format yaml > best.yaml` and `hpo train best.yaml --final --seeds 2`
retrain the winner on train + validation, report test accuracy as mean ± sd, and save the
weights and the exact config (seed, dataset fingerprint, torch and hpo versions)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
import yaml

import hpo
from tests.e2e._servers import hpo_argv, running_server
from trainers.data import load_dataset

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPEC: dict[str, Any] = {
    "name": "best-to-final",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 2, "metric": "val_accuracy"},
    "space": {
        "lr": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
        "width": {"type": "categorical", "choices": [32, 64]},
    },
    "fixed": {"depth": 1, "batch_size": 64, "optimizer": "adam"},
    "sampler": "random",
    "budget": {"n_trials": 3, "max_parallel": 1},
    "seed": 7,
}


def test_best_yaml_then_train_final(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=30) as (url, env):
        spec_file = tmp_path / "spec.yaml"
        spec_file.write_text(yaml.safe_dump(SPEC))
        subprocess.run(hpo_argv("study", "create", str(spec_file), "--api", url), env=env,
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(hpo_argv("worker", "--api", url, "--device", "cpu", "--exit-when-idle",
                                "--poll-seconds", "0.2"), env=env, check=True, timeout=300,
                       capture_output=True)  # fmt: skip
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/api/v1/studies/1").json()["state"] != "completed":
            assert time.monotonic() < deadline, "the study did not complete"
            time.sleep(0.2)
        best = httpx.get(f"{url}/api/v1/studies/1/best").json()
        yaml_text = subprocess.run(
            hpo_argv("best", "1", "--format", "yaml", "--api", url), env=env, check=True,
            capture_output=True, text=True,
        ).stdout  # fmt: skip
    (tmp_path / "best.yaml").write_text(yaml_text)
    assert yaml.safe_load(yaml_text) == best["config"]

    # The server is gone: final training needs only the file.
    proc = subprocess.run(hpo_argv("train", "best.yaml", "--final", "--seeds", "2"),
                          env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("final training on train + validation: test accuracy") == 2
    printed = re.search(r"test accuracy over 2 seeds: (\d\.\d{4}) ± (\d\.\d{4})", proc.stdout)
    assert printed is not None, proc.stdout
    [out] = (tmp_path / "runs").glob("best-final-*")
    assert f"wrote {out.relative_to(tmp_path)}/config.yaml" in proc.stdout

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"] is True and metrics["seeds"] == [7, 8]
    assert f"{metrics['test_accuracy']:.4f}" == printed.group(1)
    assert f"{metrics['test_accuracy_sd']:.4f}" == printed.group(2)
    assert 0.5 < metrics["test_accuracy"] <= 1 and metrics["val_accuracy"] is None

    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["seed"] == 7 and saved["task"]["epochs"] == 2
    assert saved["task"]["dataset"]["name"] == "digits"
    for name, value in best["params"].items():  # the winner's searched params, exactly
        assert saved["params"][name] == value
    assert saved["params"]["depth"] == 1 and saved["params"]["optimizer"] == "adam"
    provenance = saved["provenance"]
    assert provenance["final"] is True and provenance["seeds"] == [7, 8]
    assert provenance["torch_version"] == torch.__version__
    assert provenance["hpo_version"] == hpo.__version__
    # Retrained on train + validation of the search's split: no validation rows left.
    for seed, data in zip((7, 8), provenance["data"], strict=True):
        search = load_dataset("digits", seed=seed).sizes()
        assert data["seed"] == seed and len(data["sha256"]) == 64
        assert data["sizes"] == {
            "train": search["train"] + search["val"], "val": 0, "test": search["test"]
        }  # fmt: skip
    width = best["params"]["width"]
    for run in metrics["runs"]:
        weights = torch.load(out / run["weights"])
        assert weights["blocks.0.linear.weight"].shape == (width, 64)
