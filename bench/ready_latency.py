"""Issue 12, "workers ready before the first claim": how long after work appears (a study
created) an idle claimer gets its lease, long-poll (`wait_seconds=10`) against polling every
2 s (the worker's loop before long-poll), one `hpo serve` on SQLite, interleaved rounds.

    .venv/bin/python bench/ready_latency.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hpo.client import Client
from hpo.serving import free_port, start_serve, stop_serve, wait_healthy

SPEC: dict[str, Any] = {
    "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 1, "metric": "val_accuracy"},
    "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
    "fixed": {"depth": 1, "width": 16, "batch_size": 64},
    "sampler": "random",
    "budget": {"n_trials": 1},
}


def one_round(client: Client, name: str, long_poll: bool) -> float:
    """Seconds from the study's creation to the idle claimer holding its lease."""
    got: list[float] = []

    def claimer() -> None:
        while True:
            lease = client.claim("bench", wait_seconds=10.0 if long_poll else 0.0)
            if lease is not None:
                got.append(time.monotonic())
                return
            if not long_poll:
                time.sleep(2.0)

    thread = threading.Thread(target=claimer)
    thread.start()
    time.sleep(random.uniform(0.5, 2.5))  # work appears at a random point of the poll cycle
    created = time.monotonic()
    client.create_study({**SPEC, "name": name})
    thread.join()
    return got[0] - created


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "HPO_DATA_DIR": tmp, "HPO_LOG_LEVEL": "warning"}
        process = start_serve(port, env=env, log=Path(tmp) / "serve.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, process, timeout=30)
            client = Client(url)
            results: dict[str, list[float]] = {"long-poll": [], "poll 2 s": []}
            for i in range(rounds):
                for mode in ("long-poll", "poll 2 s"):
                    seconds = one_round(client, f"{mode}-{i}", long_poll=mode == "long-poll")
                    results[mode].append(seconds)
            for mode, values in results.items():
                print(
                    f"{mode:10s} enqueue->lease: median {statistics.median(values) * 1000:7.1f} ms"
                    f"  max {max(values) * 1000:7.1f} ms  (n={len(values)})"
                )
        finally:
            stop_serve(process)


if __name__ == "__main__":
    main()
