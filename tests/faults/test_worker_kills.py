"""Workers SIGKILLed at random points (claim, training, report, complete), repeatedly, while
others run: the study finishes with exactly its budget of completed trials, each grid point
completed once with its own value, and every complete a worker saw acknowledged is there.

`HPO_FAULTS_SCALE` (default 1) multiplies the study size for a longer run (bench figures).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.faults._harness import (
    api_server,
    check_study_outcome,
    grid_spec,
    read_journal,
    start_sim_worker,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCALE = int(os.environ.get("HPO_FAULTS_SCALE", "1"))


def test_workers_killed_at_random_points_lose_nothing(tmp_path: Path) -> None:
    points, n_workers = 40 * SCALE, 4
    journal = tmp_path / "journal.jsonl"
    rng = random.Random(0)
    # A short lease so a killed worker's trial comes back quickly; reports renew it.
    with api_server(tmp_path, {"HPO_LEASE_SECONDS": "1.5"}) as api:
        study = httpx.post(f"{api.url}/api/v1/studies", json=grid_spec("kills", points)).json()
        started = 0

        def spawn() -> subprocess.Popen[bytes]:
            nonlocal started
            started += 1
            return start_sim_worker(
                api.url, journal, name=f"w{started}", kill_rate=0.03, seed=started
            )

        workers = [spawn() for _ in range(n_workers)]
        external_kills = 0
        next_external = time.monotonic() + rng.uniform(0.5, 1.5)
        deadline = time.monotonic() + 300 * SCALE
        while time.monotonic() < deadline:
            state = httpx.get(f"{api.url}/api/v1/studies/{study['id']}", timeout=30).json()
            if state["state"] == "completed":
                break
            if time.monotonic() > next_external:
                # From outside, at a moment the worker did not choose.
                victim = rng.choice(workers)
                if victim.poll() is None:
                    victim.send_signal(signal.SIGKILL)
                    external_kills += 1
                next_external = time.monotonic() + rng.uniform(0.5, 1.5)
            # A killed worker is replaced, as a supervisor (systemd, k8s) would.
            workers = [w if w.poll() is None else spawn() for w in workers]
            time.sleep(0.1)
        for w in workers:
            w.kill()
            w.wait()
        metrics = httpx.get(f"{api.url}/metrics").text
        check_study_outcome(api.url, study["id"], points, journal)
    # Each completion counted once: retries and late completes of requeued trials added none.
    completed_total = re.search(r"^hpo_trials_completed_total (\d+)", metrics, re.M)
    assert completed_total is not None and int(completed_total.group(1)) == points
    events = read_journal(journal)
    self_kills = Counter(e["phase"] for e in events if e["event"] == "kill")
    errors = [e for e in events if e["event"] == "refused" and e["status"] != 409]
    assert not errors, errors
    assert external_kills + sum(self_kills.values()) >= 3, (external_kills, self_kills)
    print(f"\nfaults: {external_kills} external SIGKILLs, self-kills by phase {dict(self_kills)}, "
          f"{started} worker processes, {points} trials completed once each")  # fmt: skip
