"""A simulated worker over the real client: claim, "train" a few instant steps with reports,
complete with a value that is a pure function of the params, as `hpo worker` does: the result
goes with the claim of the next trial (`complete-and-claim`; `--separate`: two requests).
Used by the fault tests and the load benchmark, where a real trainer would only add CPU time.

With `--kill-rate p`, at each phase (claim, train, report, complete) it arms, with
probability p, a real SIGKILL of itself a few milliseconds later, so the kill lands before,
during or just after that phase's request. Every event goes to a JSON-lines journal (opened
in append mode; a line cut by the kill is skipped by the reader).

    python -m tests.faults.sim_worker --api URL --journal FILE --name w1 [--kill-rate 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

from hpo.client import ApiError, Client
from hpo.wire import Lease
from tests.faults._harness import objective


class Journal:
    def __init__(self, path: Path, name: str) -> None:
        self.file = path.open("a", buffering=1)  # line-buffered: each event is one write
        self.name = name

    def write(self, event: str, **fields: Any) -> None:
        line = {"event": event, "worker": self.name, "pid": os.getpid(), "t": time.time()}
        self.file.write(json.dumps({**line, **fields}) + "\n")


def work(
    client: Client,
    journal: Journal,
    *,
    name: str,
    steps: int = 3,
    step_seconds: float = 0.01,
    poll_seconds: float = 0.1,
    max_seconds: float = 600.0,
    kill_rate: float = 0.0,
    seed: int = 0,
    stop: threading.Event | None = None,
    combined: bool = True,
    pools: tuple[str, ...] = ("default",),
) -> int:
    """The worker loop until `stop`, or `max_seconds`; returns how many trials it completed."""
    rng = random.Random(f"{seed}-{os.getpid()}-{name}")
    stop = stop or threading.Event()
    completed = 0

    def maybe_kill(phase: str) -> None:
        if rng.random() < kill_rate:
            journal.write("kill", phase=phase)
            delay = rng.uniform(0.0, 0.02)
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
            time.sleep(delay + 1.0)  # phases after this one never run: the kill lands first

    deadline = time.monotonic() + max_seconds
    lease: Lease | None = None  # handed out with the previous result
    while time.monotonic() < deadline and not stop.is_set():
        if lease is None:
            maybe_kill("claim")
            lease = client.claim(name, host="sim", devices=["cpu"], pools=pools)
            if lease is None:
                stop.wait(poll_seconds)
                continue
        trial_id, token = lease.trial_id, lease.lease_token
        value = objective(lease.params)
        journal.write("claimed", trial_id=trial_id, attempt=lease.attempt)
        lease = None
        try:
            for step in range(1, steps + 1):
                maybe_kill("train")
                time.sleep(step_seconds)
                maybe_kill("report")
                client.report(trial_id, token, step, value * step / steps)
            maybe_kill("complete")
            if combined:
                _, lease = client.complete_and_claim(
                    trial_id, token, value, {"sim": True}, name, "sim", ["cpu"], pools=pools
                )
            else:
                client.complete(trial_id, token, value, {"sim": True})
            journal.write("completed", trial_id=trial_id, value=value)
            completed += 1
        except ApiError as e:
            # 404: the trial is gone (its study deleted, or a database crash lost a claim not
            # yet flushed: claims commit asynchronously on PostgreSQL). Abandon it, like
            # hpo.worker. Anything else (409: the lease was lost) is a refusal to look into.
            event = "vanished" if e.status == 404 else "refused"
            journal.write(event, trial_id=trial_id, status=e.status, detail=str(e))
    return completed


def run(args: argparse.Namespace) -> None:
    client = Client(args.api, token=os.environ.get("HPO_WORKER_TOKEN"), timeout=30.0)
    work(
        client,
        Journal(Path(args.journal), args.name),
        name=args.name,
        steps=args.steps,
        step_seconds=args.step_seconds,
        poll_seconds=args.poll_seconds,
        max_seconds=args.max_seconds,
        kill_rate=args.kill_rate,
        seed=args.seed,
        combined=not args.separate,
        pools=tuple(args.pool or ["default"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--kill-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--step-seconds", type=float, default=0.01)
    parser.add_argument("--poll-seconds", type=float, default=0.1)
    parser.add_argument("--max-seconds", type=float, default=600.0)
    parser.add_argument("--pool", action="append", help="a pool it serves (repeatable)")
    parser.add_argument(
        "--separate", action="store_true", help="claim and complete as two requests"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
