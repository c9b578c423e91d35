"""The parts of command trials that need no server: placeholders filled in as whole arguments,
the report lines a script prints, the SDK run by hand, where a workdir may resolve, and which
GPU a slot's script sees."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hpo.command_spec import CommandTaskSpec, command_argv, command_env
from hpo.trial_protocol import parse_report
from hpo.worker.command import WorkdirRefused, resolve_workdir, visible_devices

pytestmark = pytest.mark.unit


def task(**fields: object) -> CommandTaskSpec:
    return CommandTaskSpec.model_validate(
        {"kind": "command", "command": ["run", "--lr={lr}", "{name}"], "metric": "acc", **fields}
    )


def test_placeholders_fill_whole_arguments_and_never_split_them() -> None:
    values = {"lr": 0.001, "name": "; rm -rf / $(id) `id`", "flag": True}
    argv = command_argv(task(), values)
    assert argv == ["run", "--lr=0.001", "; rm -rf / $(id) `id`"]
    env = command_env(task(env={"FLAG": "{flag}", "BRACES": "{{literal}}"}), values)
    assert env == {"FLAG": "true", "BRACES": "{literal}"}


def test_report_lines() -> None:
    report = parse_report('{"step": 3, "acc": 0.91, "loss": 0.2, "note": "x", "ok": true}', "acc")
    assert report is not None
    assert (report.step, report.value, report.metrics, report.final) == (
        3,
        0.91,
        {"loss": 0.2},
        False,
    )
    final = parse_report('{"acc": 1, "final": true}', "acc")
    assert final is not None and final.final and final.step is None
    nan = parse_report('{"acc": NaN}', "acc")
    assert nan is not None and math.isnan(nan.value)
    for not_a_report in ["acc 0.9", '{"loss": 1}', '{"acc": "0.9"}', '{"acc": true}', "[1]", "{"]:
        assert parse_report(not_a_report, "acc") is None, not_a_report


def test_the_sdk_run_by_hand_reads_the_command_line_and_reports_nothing(tmp_path: Path) -> None:
    script = (
        "from hpo import trial\n"
        "import json\n"
        "print(json.dumps({'params': trial.params, 'stop': trial.report(0, 0.5),\n"
        "                  'prune': trial.should_prune(), 'ckpt': str(trial.checkpoint_dir)}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPO_")}
    out = subprocess.run(
        [sys.executable, "-c", script, "--lr", "0.01", "--width=32", "--name", "a b", "--amp"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert len(out) == 1, out  # no report line
    seen = json.loads(out[0])
    assert seen["params"] == {"lr": 0.01, "width": 32, "name": "a b", "amp": True}
    assert seen["stop"] is False and seen["prune"] is False
    assert Path(seen["ckpt"]) == Path("hpo-run/checkpoint") and (tmp_path / seen["ckpt"]).is_dir()
    # HPO_PARAMS wins over the command line.
    env["HPO_PARAMS"] = json.dumps({"lr": 0.5})
    again = subprocess.run(
        [sys.executable, "-c", script, "--lr", "0.01"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert json.loads(again)["params"] == {"lr": 0.5}


def test_a_workdir_must_resolve_inside_an_allowed_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "project").mkdir(parents=True)
    outside.mkdir()
    (root / "link-out").symlink_to(outside)
    roots = [str(root)]
    assert resolve_workdir("project", roots) == (root / "project").resolve()
    assert resolve_workdir(str(root / "project"), roots) == (root / "project").resolve()
    for refused in ("link-out", str(outside), "project/../../outside", str(root / "link-out")):
        with pytest.raises(WorkdirRefused, match="outside the folders this worker allows"):
            resolve_workdir(refused, roots)
    with pytest.raises(WorkdirRefused, match="no folder on this worker"):
        resolve_workdir("missing", roots)
    with pytest.raises(WorkdirRefused, match="start it with --allow-commands"):
        resolve_workdir("project", [])


def test_each_slot_runs_its_command_on_its_own_gpu() -> None:
    assert visible_devices("cpu", "0,1") == ""
    assert visible_devices("cuda:1", None) == "1"
    assert visible_devices("cuda:0", "3") == "3"  # a slot process pinned to GPU 3 by its parent
    assert visible_devices("cuda:1", "2,5") == "5"
    assert visible_devices("cuda", "0,1") == "0,1"


def test_hpo_train_refuses_a_command_config_in_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hpo.commands.train import TrainingConfigError, train

    config = tmp_path / "best.yaml"
    config.write_text("task: {kind: command, command: [x], metric: m}\nparams: {}\nseed: 0\n")
    result = CliRunner().invoke(train, [str(config)])
    # hpo.cli turns this error into its one line on stderr and exit 2.
    assert isinstance(result.exception, TrainingConfigError)
    assert "is a command trial's config: hpo train runs the built-in models only" in str(
        result.exception
    )
