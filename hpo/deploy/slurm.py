"""`hpo deploy slurm`: an sbatch script that runs hpo workers as a Slurm job array.

Each array task is one `hpo worker --exit-when-idle` on the GPUs Slurm gave it: it trains
trials until there is no work, then exits, and the array's throttle (`%16`) starts the next
task. Before the time limit Slurm sends TERM to the batch shell (`--signal=B:TERM@120`); the
script `exec`s the worker, so the batch shell IS the worker and the signal reaches it: it
finishes its epoch, hands the trial back (requeued at once, same params) and exits 0. A
shell that ran the worker as a child would die of the TERM and leave the worker to be
killed at the limit, its trial lost until the lease expired.

The token is read from a file (`--token-file`), never put on the command line, where every
user of a shared login or compute node could read it (`ps`).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from hpo.deploy.pools import DEFAULT_POOL, check_pool
from hpo.errors import ValidationError

DEFAULT_TOKEN_FILE = "~/.config/hpo/worker-token"

# Slurm's --array: indices or ranges (with an optional :step), comma-separated, and an
# optional %N: how many tasks run at once.
_ARRAY = re.compile(r"\d+(-\d+(:\d+)?)?(,\d+(-\d+(:\d+)?)?)*(%\d+)?")
# Slurm's --time: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_URL = re.compile(r"https?://[^\s,'\"]+")
_MAX_SIGNAL_SECONDS = 65535  # Slurm's limit on --signal's @time


@dataclass(frozen=True)
class SlurmPlan:
    """The sbatch script's settings, checked on construction (errors name the flag)."""

    api: str
    array: str = "0-63%16"
    gpus_per_task: int = 1
    time: str = "08:00:00"
    pool: str = DEFAULT_POOL
    token_file: str = DEFAULT_TOKEN_FILE
    grace_seconds: int = 120

    def __post_init__(self) -> None:
        urls = self.api.split(",")
        if not all(_URL.fullmatch(url) for url in urls):
            raise ValidationError(
                f"--api {self.api!r}: give the API's URL, http://HOST:PORT (several: "
                "comma-separated)"
            )
        if not _ARRAY.fullmatch(self.array):
            raise ValidationError(
                f"--array {self.array!r}: give Slurm array indices, e.g. 0-63%16 (tasks 0 to "
                "63, 16 at a time) or 0,4,8"
            )
        if self.gpus_per_task < 0:
            raise ValidationError(f"--gpus-per-task {self.gpus_per_task}: give 0 or more")
        if not 1 <= self.grace_seconds <= _MAX_SIGNAL_SECONDS:
            raise ValidationError(
                f"--grace-seconds {self.grace_seconds}: give 1 to {_MAX_SIGNAL_SECONDS}"
            )
        limit = time_limit_seconds(self.time)
        if limit <= self.grace_seconds:
            raise ValidationError(
                f"--time {self.time} is not longer than the {self.grace_seconds} s warning "
                "before it (--grace-seconds): give a longer --time"
            )
        check_pool(self.pool)
        if not self.token_file or "\n" in self.token_file:
            raise ValidationError("--token-file: give the path of the file holding the token")


def time_limit_seconds(value: str) -> int:
    """Slurm's --time in seconds; ValidationError for anything Slurm would not read."""
    match = _TIME.fullmatch(value)
    if match is None:
        raise ValidationError(
            f"--time {value!r}: give HH:MM:SS, MM, MM:SS or D-HH[:MM[:SS]] (e.g. 08:00:00)"
        )
    days, first, second, third = match.groups()
    if days is not None:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
        return ((int(days) * 24 + hours) * 60 + minutes) * 60 + seconds
    if third is not None:  # H:M:S
        return (int(first) * 60 + int(second)) * 60 + int(third)
    return int(first) * 60 + int(second or 0)  # M or M:S


def _shell_path(path: str) -> str:
    """`path` for bash, quoted; a leading `~/` stays the running user's home."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def worker_line(plan: SlurmPlan) -> str:
    """The script's last line: the worker, exec'd (see the module docstring for why)."""
    words = ["exec", "hpo", "worker", "--token-file", '"$token_file"', "--pool", plan.pool]
    words += ["--gpus", "all"] if plan.gpus_per_task else ["--device", "cpu"]
    words += ["--exit-when-idle", "--worker-id", '"$worker_id"']
    return " ".join(words)


def slurm_script(plan: SlurmPlan) -> str:
    gres = [f"#SBATCH --gpus-per-task={plan.gpus_per_task}"] if plan.gpus_per_task else []
    lines = [
        "#!/bin/bash",
        "# hpo workers as a Slurm job array, from `hpo deploy slurm`: sbatch THIS_FILE",
        "# Each task trains trials until none is left, then exits 0. Slurm's TERM before the",
        "# time limit makes the worker finish its epoch and hand its trial back (requeued).",
        f"#SBATCH --job-name=hpo-worker-{plan.pool}",
        f"#SBATCH --array={plan.array}",
        "#SBATCH --ntasks=1",
        *gres,
        f"#SBATCH --time={plan.time}",
        # B: the batch shell only, which the exec below makes the worker itself.
        f"#SBATCH --signal=B:TERM@{plan.grace_seconds}",
        "#SBATCH --output=hpo-worker-%A_%a.out",
        "set -euo pipefail",
        "",
        "# If hpo is not on PATH on the compute nodes, set it up here, e.g.",
        "#   module load python/3.11 && source ~/hpo/.venv/bin/activate",
        "",
        f"export HPO_API_URL={shlex.quote(plan.api)}",
        "# The worker token, in a file only you can read (chmod 600): never on a command line.",
        f"token_file={_shell_path(plan.token_file)}",
        'if [ ! -r "$token_file" ]; then',
        '  echo "hpo worker: no readable token file $token_file (put the worker token in it)" >&2',
        "  exit 2",
        "fi",
        'worker_id="slurm-${SLURM_ARRAY_JOB_ID:-local}_${SLURM_ARRAY_TASK_ID:-0}"',
        "# exec: this shell becomes the worker, so Slurm's TERM to the batch shell reaches it.",
        worker_line(plan),
    ]
    return "\n".join(lines) + "\n"
