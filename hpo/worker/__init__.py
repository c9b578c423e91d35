"""The worker: pull a trial, train it, report each epoch, complete. Speaks HTTP only.

`hpo worker --api URL` runs one slot in this process on the CPU, or, with GPUs, one child
process per slot (`--slots-per-device K` per GPU), each pinned with CUDA_VISIBLE_DEVICES and
given every option of the parent (hpo.worker.options).

- `loop`: a slot's claim -> train -> send loop (`Worker`), signals, sending an outcome.
- `trial`: training one leased trial into an `Outcome` (heartbeat, reports, failures).
- `options`: `WorkerOptions`, and the command line that carries them to a slot's process.
- `slots`: one child process per GPU slot (`supervise`).
- `command`: one command trial (`kind: command`, the user's own script) into an `Outcome`;
  only with `--allow-commands ROOT` (the workdir must resolve inside one).
- `process`: the script as a process group of its own, its lines to `LineSink`s.

Signals: the first SIGTERM/SIGINT lets the current epoch finish, fails the trial as `lost`
(the API requeues it at once, same params) and exits; a second one exits at once (the lease
then expires and the reaper requeues the trial). A 409 (lease lost: the trial was requeued or
the study cancelled) or a 404 (the trial is gone: its study was deleted, or a database crash
lost a claim not yet flushed) abandons the trial.

An unreachable API (a restart, a network cut) is waited out: claims and results are retried
with capped backoff until it answers (`Outage` says so once a minute), or until
`give_up_after_seconds` when set (then `ApiGaveUp`). Heartbeats and reports try a few times
and let training go on: the next one comes soon, and the result is what must arrive.

User datasets are read only inside `data_roots` (trainers.data._locate), because a study's
spec, which names the file, comes from the API and its failure messages are published.
"""

from __future__ import annotations

from hpo.worker.loop import Worker
from hpo.worker.options import WorkerOptions, slot_command
from hpo.worker.slots import supervise, visible_gpus
from hpo.worker.trial import LEASE_GONE, Outcome, train

__all__ = [
    "LEASE_GONE",
    "Outcome",
    "Worker",
    "WorkerOptions",
    "slot_command",
    "supervise",
    "train",
    "visible_gpus",
]
