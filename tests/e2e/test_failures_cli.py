"""End to end, as a new user meets it: `hpo study create` refuses a spec the trainers would
refuse (exit 2, one line, nothing created); a study whose trials all fail as config errors
(stored unchecked) is trained by a real `hpo worker`, which logs each failure; the study stops
itself, and `hpo trials`, `hpo study show`, `hpo study list`, `hpo leaderboard` and `hpo best`
say what happened."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e._servers import hpo_argv, running_server
from tests.e2e.test_cli_tables import on_a_terminal

pytestmark = [pytest.mark.e2e]

SPEC: dict[str, Any] = {
    "name": "first-hour",
    "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
    "space": {
        "lr": {"type": "float", "low": 1e-3, "high": 1e-1, "log": True},
        "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
    },
    "sampler": "random",
    "budget": {"n_trials": 3, "max_parallel": 1},
}
UNKNOWN = "unknown dataset 'mnist2d'; valid: mnist1d"


@pytest.fixture
def server(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str]]]:
    cache = tmp_path_factory.getbasetemp() / "dataset-cache"
    with running_server(tmp_path, cache, lease_seconds=30) as (url, env):
        # Wide enough that table titles do not wrap (the CLI's own width handling is tested
        # with the tables).
        yield url, {**env, "COLUMNS": "240"}


def _hpo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(hpo_argv(*args), env=env, capture_output=True, text=True, timeout=120)


def _write(tmp_path: Path, name: str, spec: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    return proc.stderr.strip()


def test_create_refuses_what_the_trainers_would_refuse(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = server
    space = SPEC["space"]
    mistakes = [
        ({"task": {**SPEC["task"], "dataset": "mnist2d"}}, f"task.dataset: {UNKNOWN}"),
        (
            {"space": {**space, "learning_rate": {"type": "float", "low": 1e-4, "high": 0.1}}},
            "space.learning_rate: unknown param 'learning_rate' for model mlp; valid: depth",
        ),
        (
            {"space": {**space, "activation": {"type": "categorical", "choices": ["rleu"]}}},
            "space.activation: choice 'rleu': unknown activation 'rleu'; valid: relu",
        ),
    ]
    for i, (change, needle) in enumerate(mistakes):
        spec_file = _write(tmp_path, f"bad{i}.yaml", {**SPEC, **change})
        line = _one_error_line(_hpo(env, "study", "create", spec_file, "--api", url))
        assert needle in line, line
    assert httpx.get(f"{url}/api/v1/studies").json() == []  # nothing created


def _run_worker(url: str, env: dict[str, str], tmp_path: Path) -> str:
    argv = hpo_argv("worker", "--api", url, "--device", "cpu", "--exit-when-idle")
    argv += ["--poll-seconds", "0.2"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def test_failures_are_in_plain_sight_and_a_hopeless_study_stops(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = server
    # check_config: false stores what creation would refuse (as for a study created before
    # the check): every trial fails on the worker as a config error.
    unchecked = {**SPEC, "task": {**SPEC["task"], "dataset": "mnist2d"}, "check_config": False}
    done_file = _write(tmp_path, "done.yaml", unchecked)
    created = _hpo(env, "study", "create", done_file, "--api", url)
    assert created.returncode == 0, created.stderr
    done = created.stdout.split()[2]  # "created study N (...)"

    log = _run_worker(url, env, tmp_path)
    failed_lines = [line for line in log.splitlines() if "failed (config): " + UNKNOWN in line]
    assert len(failed_lines) == 3, log  # one line per failed trial, with class and message

    best = _one_error_line(_hpo(env, "best", done, "--api", url))
    assert best == (
        f"error: study {done} is completed with no completed trial: 3 failed (config: "
        f"{UNKNOWN}, mnist1d_shuffled, mnist1d_large, digits, breast_cancer, wine, npz:PATH, "
        "csv:PATH?label=COLUMN)"
    )
    listed = _hpo(env, "trials", done, "--state", "failed", "--api", url)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count("config") == 3 and "unknown dataset 'mnist2d'" in listed.stdout
    as_json = json.loads(_hpo(env, "trials", done, "--json", "--api", url).stdout)
    assert [(t["state"], t["failure_class"]) for t in as_json] == [("failed", "config")] * 3
    assert all(t["failure_message"].startswith(UNKNOWN) for t in as_json)
    # On a terminal (piped, the leaderboard is TSV rows); the title may wrap: compare words.
    board = " ".join(on_a_terminal(url, env, "leaderboard", done, columns=200).split())
    assert "3/3 finished: 0 completed, 0 pruned, 3 failed; 0 running" in board, board
    assert "most common failure: 3 x config: " + UNKNOWN in board, board

    # A longer study pauses itself after 3 config errors in a row, with the reason.
    stopped_file = _write(tmp_path, "stopped.yaml", {**unchecked, "name": "stops"})
    created = _hpo(env, "study", "create", stopped_file, "--trials", "10", "--api", url)
    stopped = created.stdout.split()[2]
    _run_worker(url, env, tmp_path)
    reason = f"paused: 3 trials in a row failed with: {UNKNOWN}"
    shown = _hpo(env, "study", "show", stopped, "--api", url).stdout
    assert f"study {stopped} stops: paused" in shown
    assert reason in shown and "3 failed" in shown, shown
    assert "most common failure: 3 x config: " + UNKNOWN in shown
    assert httpx.get(f"{url}/api/v1/studies/{stopped}").json()["paused_reason"].startswith(reason)
    listing = _hpo(env, "study", "list", "--api", url).stdout  # piped: TSV, full values
    rows = [line.split("\t") for line in listing.splitlines()]
    assert rows[0][-1] == "reason"
    assert [row[-1] for row in rows if row[0] == stopped] == [reason + ", mnist1d_shuffled, " +
        "mnist1d_large, digits, breast_cancer, wine, npz:PATH, csv:PATH?label=COLUMN"]  # fmt: skip
    assert (
        f"is paused with no completed trial: 3 failed; {reason}"
        in _hpo(env, "best", stopped, "--api", url).stderr
    )
