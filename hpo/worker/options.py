"""What `hpo worker` is told (`WorkerOptions`), and how those options reach the child process
of each GPU slot (`slot_command`): every field goes through, so a new option cannot be
forgotten (tests/unit/test_worker_options.py walks the dataclass's fields)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class WorkerOptions:
    api: str
    token: str | None = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 1  # CPU threads per slot: small models train faster on one or two
    poll_seconds: float = 2.0  # wait between claims when there is no work (wait_seconds 0)
    # Long-poll: the API holds a claim with no work up to this long, answering as soon as a
    # trial appears. Short, because a stop signal during a held claim waits for its answer.
    wait_seconds: float = 5.0
    warm_up: bool = True  # import torch and train one tiny batch on the device before claiming
    max_trials: int | None = None  # stop after this many trials (tests, batch jobs)
    exit_when_idle: bool = False  # stop at the first claim that finds no work
    heartbeat_seconds: float = 20.0
    # Reports of a study without a pruner are batched: one request at most this often
    # (hpo.worker.reports); 0 sends each report as it comes (live curves for short epochs).
    report_seconds: float = 1.0
    worker_id: str = ""
    cache_dir: str | None = None
    data_roots: tuple[str, ...] = ()  # the only folders user datasets are read from
    first_backoff_seconds: float = 1.0  # an unreachable API: wait this, doubling, ...
    max_backoff_seconds: float = 30.0  # ... up to this between attempts
    give_up_after_seconds: float | None = None  # exit after this long unreachable; None: never
    claim_backoff_seconds: float = 1.0  # first wait after a claim the API failed (doubles)
    max_claim_backoff_seconds: float = 60.0
    # Command trials (hpo.worker.command): run only with at least one root, the folders a
    # task's workdir must resolve inside; without, the worker claims built-in trials only.
    allow_commands: tuple[str, ...] = ()
    kill_grace_seconds: float = 30.0  # SIGTERM, then this long, then SIGKILL
    work_dir: str | None = None  # each attempt's checkpoint and output folders go under it
    # The pools this worker serves: its claims get trials of studies in these pools only.
    pools: tuple[str, ...] = ("default",)


# The `hpo worker` flag that carries each field to a slot's process.
SLOT_FLAGS: dict[str, str] = {
    "api": "--api",
    "threads": "--threads",
    "poll_seconds": "--poll-seconds",
    "wait_seconds": "--wait-seconds",
    "warm_up": "--no-warm-up",
    "max_trials": "--max-trials",
    "exit_when_idle": "--exit-when-idle",
    "heartbeat_seconds": "--heartbeat-seconds",
    "report_seconds": "--report-seconds",
    "worker_id": "--worker-id",
    "cache_dir": "--cache-dir",
    "data_roots": "--data-root",
    "first_backoff_seconds": "--first-backoff",
    "max_backoff_seconds": "--max-backoff",
    "give_up_after_seconds": "--give-up-after",
    "claim_backoff_seconds": "--claim-backoff",
    "max_claim_backoff_seconds": "--max-claim-backoff",
    "allow_commands": "--allow-commands",
    "kill_grace_seconds": "--kill-grace-s",
    "work_dir": "--work-dir",
    "pools": "--pool",
}
# The fields that go another way: the token through the environment (a command line is
# readable by every user of the machine: ps), the device is the slot's own GPU.
NOT_FLAGS = frozenset({"token", "device"})


def slot_options(options: WorkerOptions, gpu: str, slot: int) -> WorkerOptions:
    """The options of one slot's worker: pinned to its GPU (seen as cuda:0 under
    CUDA_VISIBLE_DEVICES), and a worker id of its own when one was given."""
    worker_id = f"{options.worker_id}-gpu{gpu}-{slot}" if options.worker_id else ""
    return replace(options, device="cuda:0", worker_id=worker_id)


def slot_command(options: WorkerOptions, gpu: str, slot: int) -> tuple[list[str], dict[str, str]]:
    """argv and environment of the `hpo worker` process of one slot."""
    child = slot_options(options, gpu, slot)
    argv = [sys.executable, "-m", "hpo.cli", "worker", "--device", child.device,
            "--slots-per-device", "1", "--gpus", "none"]  # fmt: skip
    for f in fields(WorkerOptions):
        if f.name not in NOT_FLAGS:
            argv += _flag(SLOT_FLAGS[f.name], getattr(child, f.name))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
    # The slot takes the token this worker resolved, not whatever HPO_TOKEN says.
    env.pop("HPO_WORKER_TOKEN", None)
    env.pop("HPO_TOKEN", None)
    if child.token:
        env["HPO_WORKER_TOKEN"] = child.token
    return argv, env


def _flag(flag: str, value: Any) -> list[str]:
    if flag.startswith("--no-"):  # an on-by-default switch: the flag turns it off
        return [] if value else [flag]
    if value is None or value is False or value == "":
        return []  # the slot's default is the same
    if value is True:
        return [flag]
    if isinstance(value, tuple):
        return [arg for item in value for arg in (flag, str(item))]
    return [flag, str(value)]
