"""`hpo deploy slurm`: the sbatch script parses (`bash -n`), carries the directives asked for,
execs the worker (so Slurm's TERM to the batch shell reaches it), keeps the token off every
command line, and bad flags are refused with what to change. The signal hand-back itself runs
in tests/e2e/test_deploy_slurm.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hpo.cli import cli
from hpo.deploy.slurm import time_limit_seconds
from hpo.errors import HpoError

pytestmark = pytest.mark.unit

BASH = shutil.which("bash")


def script(*args: str) -> str:
    result = CliRunner().invoke(cli, ["deploy", "slurm", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def directives(text: str) -> list[str]:
    return [line.removeprefix("#SBATCH ") for line in text.splitlines() if line[:7] == "#SBATCH"]


@pytest.mark.skipif(BASH is None, reason="no bash on this machine")
@pytest.mark.parametrize(
    "args",
    [
        ["--api", "http://login1:8000"],
        ["--api", "http://a:8000,http://b:8000", "--gpus-per-task", "0", "--pool", "cpu.big",
         "--token-file", "/shared/it's here/token", "--array", "1,3,5-9:2%2", "--time", "2-00"],
    ],
)  # fmt: skip
def test_the_script_is_bash_clean(args: list[str], tmp_path: Path) -> None:
    path = tmp_path / "hpo-workers.sbatch"
    path.write_text(script(*args))
    checked = subprocess.run([str(BASH), "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_directives_ask_for_an_array_of_gpu_tasks_and_the_warning_signal() -> None:
    text = script(
        "--api", "http://login1:8000", "--array", "0-31%8", "--gpus-per-task", "2",
        "--time", "04:00:00", "--pool", "a100",
    )  # fmt: skip
    assert text.startswith("#!/bin/bash\n")
    assert directives(text) == [
        "--job-name=hpo-worker-a100",
        "--array=0-31%8",
        "--ntasks=1",
        "--gpus-per-task=2",
        "--time=04:00:00",
        "--signal=B:TERM@120",
        "--output=hpo-worker-%A_%a.out",
    ]
    last = text.strip().splitlines()[-1]
    assert last.startswith("exec hpo worker ")  # the batch shell becomes the worker
    assert "--exit-when-idle" in last and "--pool a100" in last and "--gpus all" in last
    assert "export HPO_API_URL=http://login1:8000" in text


def test_the_token_comes_from_a_file_never_the_command_line() -> None:
    text = script("--api", "http://login1:8000", "--token-file", "~/tokens/hpo")
    assert 'token_file="$HOME"/tokens/hpo' in text
    assert '--token-file "$token_file"' in text
    assert "--token " not in text and "HPO_WORKER_TOKEN" not in text


def test_cpu_tasks_ask_for_no_gpu() -> None:
    text = script("--api", "http://login1:8000", "--gpus-per-task", "0")
    assert not [d for d in directives(text) if "gpu" in d]
    assert "--device cpu" in text.splitlines()[-1]


@pytest.mark.skipif(BASH is None, reason="no bash on this machine")
def test_a_missing_token_file_stops_the_task_before_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "w.sbatch"
    path.write_text(script("--api", "http://x:8000", "--token-file", str(tmp_path / "none")))
    ran = subprocess.run(
        [str(BASH), str(path)], capture_output=True, text=True, timeout=30, env={"PATH": ""}
    )
    assert ran.returncode == 2
    assert "no readable token file" in ran.stderr


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30", 1800), ("30:15", 1815), ("08:00:00", 28800), ("2-00", 172800),
     ("1-02:03", 93780), ("1-02:03:04", 93784)],
)  # fmt: skip
def test_slurm_time_formats(value: str, seconds: int) -> None:
    assert time_limit_seconds(value) == seconds


BAD: list[tuple[list[str], str]] = [
    (["--api", "login1:8000"], "--api"),
    (["--api", "http://x:8000", "--array", "0-63%"], "--array"),
    (["--api", "http://x:8000", "--time", "8h"], "--time"),
    (["--api", "http://x:8000", "--time", "02:00"], "not longer than the 120 s warning"),
    (["--api", "http://x:8000", "--pool", "A100"], "not a pool name"),
    (["--api", "http://x:8000", "--gpus-per-task", "-1"], "--gpus-per-task"),
    (["--api", "http://x:8000", "--grace-seconds", "0"], "--grace-seconds"),
]


@pytest.mark.parametrize(("args", "says"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_flags_are_refused_with_what_to_change(args: list[str], says: str) -> None:
    result = CliRunner().invoke(cli, ["deploy", "slurm", *args])
    assert isinstance(result.exception, HpoError), result.output
    assert says in str(result.exception)
    assert result.output == ""
