"""The API process SIGKILLed and restarted mid-study (SQLite and PostgreSQL), and PostgreSQL
itself stopped and started mid-study (a private cluster): workers retry with backoff and go on,
nothing committed is lost, and leases survive (no trial needed a second attempt)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.faults._harness import (
    ApiServer,
    check_study_outcome,
    grid_spec,
    read_journal,
    start_sim_worker,
    wait_for,
)
from tests.faults.conftest import PrivatePostgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

POINTS, WORKERS = 40, 4


def completed_count(url: str, study_id: int) -> int:
    try:
        study = httpx.get(f"{url}/api/v1/studies/{study_id}", timeout=5).json()
    except (httpx.TransportError, ValueError):
        return -1
    return int(study.get("counts", {}).get("completed", -1))


def run_study_through(
    tmp_path: Path, env: dict[str, str], fault: object, *, faults: int = 2
) -> tuple[ApiServer, list[dict[str, object]]]:
    """A grid study with 4 simulated workers; `fault(server)` is injected `faults` times
    while trials are in flight. Returns the server (stopped) and the claims the database
    lost (workers got 404 for them later)."""
    # Leases far longer than any outage here: a lease that survives shows as attempt 1.
    server = ApiServer(tmp_path, {"HPO_LEASE_SECONDS": "60", **env})
    server.start()
    journal = tmp_path / "journal.jsonl"
    workers: list[subprocess.Popen[bytes]] = []
    fault_times: list[float] = []
    try:
        study = httpx.post(f"{server.url}/api/v1/studies", json=grid_spec("restarts", POINTS))
        study_id = study.json()["id"]
        workers = [
            start_sim_worker(server.url, journal, name=f"w{i}", steps=4, step_seconds=0.05)
            for i in range(WORKERS)
        ]
        for round_ in range(1, faults + 1):
            target = POINTS * round_ // (faults + 1)
            wait_for(lambda t=target: completed_count(server.url, study_id) >= t, 120, "progress")
            fault_times.append(time.time())
            fault(server)  # type: ignore[operator]
        wait_for(
            lambda: completed_count(server.url, study_id) >= POINTS, 180, "the study to finish"
        )
        trials = check_study_outcome(server.url, study_id, POINTS, journal)
    finally:
        for w in workers:
            w.kill()
            w.wait()
        server.stop()
    events = read_journal(journal)
    assert not [e for e in events if e["event"] == "refused"], "a worker's request was refused"
    assert all(t["attempt"] == 1 for t in trials), "a lease was lost across the fault"
    # The leases tested: trials claimed before a fault and completed after it, same lease.
    claimed = {e["trial_id"]: e["t"] for e in events if e["event"] == "claimed"}
    spanning = [
        e["trial_id"]
        for e in events
        if e["event"] == "completed"
        and any(claimed[e["trial_id"]] < f < e["t"] for f in fault_times)
    ]
    assert spanning, "no trial was in flight across a fault: the test proved nothing"
    vanished = [e for e in events if e["event"] == "vanished"]
    print(
        f"\n{len(fault_times)} faults; {len(spanning)} trials in flight across one kept their "
        f"lease; {len(vanished)} claims lost by the database"
    )
    return server, vanished


def kill_and_restart_api(server: ApiServer) -> None:
    server.kill()
    time.sleep(1.0)  # workers meet a dead port, and back off
    server.start()


def test_api_killed_and_restarted_on_sqlite(tmp_path: Path) -> None:
    server, vanished = run_study_through(tmp_path, {}, kill_and_restart_api)
    assert server.starts == 3
    assert vanished == []


def test_api_killed_and_restarted_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    server, vanished = run_study_through(
        tmp_path, {"HPO_DATABASE_URL": pg_url}, kill_and_restart_api
    )
    assert server.starts == 3
    assert vanished == []  # the database did not crash: even asynchronous commits landed


def test_postgresql_restarted_mid_study(tmp_path: Path, private_pg: PrivatePostgres) -> None:
    modes = iter(["fast", "immediate"])  # a clean shutdown, then one like a crash

    def restart_postgres(_server: ApiServer) -> None:
        private_pg.stop(next(modes))
        time.sleep(2.0)  # the API answers 503 meanwhile; workers back off and retry
        private_pg.start()

    # Claims commit asynchronously on PostgreSQL (synchronous_commit off, for claim latency),
    # so a crash may lose the claims of its last moments: their workers get 404 and abandon
    # them, and the grid points are handed out again. Results (completes) are synchronous:
    # the outcome check above found every acknowledged one.
    server, _vanished = run_study_through(
        tmp_path, {"HPO_DATABASE_URL": private_pg.url}, restart_postgres
    )
    assert server.starts == 1  # the API itself was never restarted: it reconnected
    log = server.log.read_text()
    assert "DatabaseUnavailable" in log, "the outage never reached the API"
