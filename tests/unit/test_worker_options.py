"""Every option given to `hpo worker` reaches the child process of each GPU slot: the slot's
command line, parsed by the real `hpo worker` command, gives back the parent's options (the
slot's own device and worker id aside). The fields are read off WorkerOptions, so a field
added without a way to reach the slots fails here."""

from __future__ import annotations

from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

import pytest

from hpo.commands.worker import worker, worker_options
from hpo.worker import WorkerOptions, slot_command
from hpo.worker.options import NOT_FLAGS, SLOT_FLAGS


def non_default_options(tmp_path: Path) -> WorkerOptions:
    """WorkerOptions with every field away from its default."""
    roots = [tmp_path / "a", tmp_path / "b"]
    for root in roots:
        root.mkdir()
    values: dict[str, Any] = {
        "api": "http://api.example:9000",
        "token": "hpow_secret",
        "device": "cuda",
        "threads": 3,
        "poll_seconds": 0.25,
        "wait_seconds": 7.5,
        "warm_up": False,
        "max_trials": 7,
        "exit_when_idle": True,
        "heartbeat_seconds": 4.5,
        "report_seconds": 0.0,  # falsy, and still carried
        "worker_id": "rack-1",
        "cache_dir": str(tmp_path / "cache"),
        "data_roots": tuple(str(r.resolve()) for r in roots),
        "first_backoff_seconds": 0.3,
        "max_backoff_seconds": 12.0,
        "give_up_after_seconds": 600.0,
        "claim_backoff_seconds": 0.5,
        "max_claim_backoff_seconds": 9.0,
        "allow_commands": (str(roots[0].resolve()),),
        "kill_grace_seconds": 2.5,
        "work_dir": str((tmp_path / "work").resolve()),
        "pools": ("a100", "h100"),
    }
    assert set(values) == {f.name for f in fields(WorkerOptions)}, "a field without a value here"
    for f in fields(WorkerOptions):
        default = f.default if f.default is not MISSING else None
        assert values[f.name] != default, f"{f.name}: pick a value other than its default"
    return WorkerOptions(**values)


def parsed_by_the_slot(
    argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> WorkerOptions:
    """What `hpo worker` in the slot's process makes of its command line and environment."""
    assert argv[1:4] == ["-m", "hpo.cli", "worker"]
    for name in (
        "HPO_TOKEN",
        "HPO_WORKER_TOKEN",
        "HPO_API_URL",
        "HPO_WORKER_DATA_ROOTS",
        "HPO_WORKER_REPORT_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)
        if name in env:
            monkeypatch.setenv(name, env[name])
    with worker.make_context("worker", argv[4:]) as ctx:
        return worker_options(ctx)


def test_every_field_has_a_way_to_the_slots() -> None:
    names = {f.name for f in fields(WorkerOptions)}
    assert set(SLOT_FLAGS) | NOT_FLAGS == names
    assert not set(SLOT_FLAGS) & NOT_FLAGS


def test_a_slot_gets_every_option_of_its_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = non_default_options(tmp_path)
    argv, env = slot_command(options, gpu="2", slot=1)
    assert env["CUDA_VISIBLE_DEVICES"] == "2"
    assert options.token is not None and options.token not in " ".join(argv)  # never in ps
    expected = replace(options, device="cuda:0", worker_id="rack-1-gpu2-1")
    assert parsed_by_the_slot(argv, env, monkeypatch) == expected


def test_default_options_reach_a_slot_as_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = str(tmp_path.resolve())
    options = WorkerOptions(api="http://127.0.0.1:8000", data_roots=(root,))
    argv, env = slot_command(options, gpu="0", slot=0)
    assert "HPO_WORKER_TOKEN" not in env and "HPO_TOKEN" not in env
    assert parsed_by_the_slot(argv, env, monkeypatch) == replace(options, device="cuda:0")
