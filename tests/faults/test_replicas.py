"""Several `hpo serve` replicas on one PostgreSQL.

- Behind HAProxy (issue 16): three replicas, six simulated workers, a 32-point grid study and
  a 24-trial TPE study; one replica SIGKILLed and restarted twice during the run. Every grid
  point is completed exactly once, the TPE configurations are distinct, no result a worker
  saw acknowledged is lost, no trial goes past max_attempts.
- The per-process sampler cache stays correct across replicas: a study raised (PATCH
  n_trials) or cancelled through one replica is seen by the other at its next claim.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from hpo.client import ApiError, Client
from tests.faults._haproxy import haproxy, require_haproxy
from tests.faults._harness import (
    ApiServer,
    all_trials,
    grid_spec,
    objective,
    read_journal,
    start_sim_worker,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GRID_POINTS, TPE_TRIALS, WORKERS, MAX_ATTEMPTS = 32, 24, 6, 5


def tpe_spec(name: str, trials: int, *, max_parallel: int = 4) -> dict[str, Any]:
    return {
        "name": name,
        "task": {"model": "mlp", "dataset": "digits", "epochs": 1},
        "space": {
            "x": {"type": "float", "low": 0.0, "high": 10.0},
            "y": {"type": "float", "low": 1e-3, "high": 1.0, "log": True},
        },
        "sampler": {"name": "tpe", "options": {"n_startup_trials": 6}},
        "budget": {"n_trials": trials, "max_parallel": max_parallel, "max_attempts": MAX_ATTEMPTS},
        "check_config": False,  # its params are not the trainers' (no trainer runs them)
    }


def replicas(tmp_path: Path, database_url: str, n: int, **env: str) -> list[ApiServer]:
    """`n` replicas on one database, each with its own folder (log, data, cache)."""
    servers = []
    for i in range(n):
        workdir = tmp_path / f"replica{i}"
        workdir.mkdir()
        servers.append(ApiServer(workdir, {"HPO_DATABASE_URL": database_url, **env}))
    return servers


@pytest.fixture
def started() -> Iterator[ExitStack]:
    """What the test started, stopped at its end (last first)."""
    with ExitStack() as stack:
        yield stack


def _start(servers: list[ApiServer], stack: ExitStack) -> None:
    for server in servers:
        server.start()
        stack.callback(server.stop)


def completed(url: str, study_ids: list[int]) -> int:
    try:
        return sum(
            httpx.get(f"{url}/api/v1/studies/{sid}", timeout=5).json()["counts"]["completed"]
            for sid in study_ids
        )
    except (httpx.TransportError, ValueError, KeyError):
        return -1


def test_three_replicas_behind_haproxy_lose_nothing_when_one_is_killed_twice(
    tmp_path: Path, pg_url: str, started: ExitStack
) -> None:
    binary = require_haproxy()
    # Short leases: a claim whose answer died with its replica is requeued within seconds.
    servers = replicas(tmp_path, pg_url, 3, HPO_LEASE_SECONDS="4")
    servers[0].start()  # migrates the database; the others find it at head
    started.callback(servers[0].stop)
    _start(servers[1:], started)
    url = started.enter_context(haproxy(tmp_path, [s.port for s in servers], binary)).url
    grid = httpx.post(f"{url}/api/v1/studies", json={
        **grid_spec("grid", GRID_POINTS), "budget": {
            "n_trials": GRID_POINTS, "max_parallel": 8, "max_attempts": MAX_ATTEMPTS}},
    ).json()["id"]  # fmt: skip
    tpe = httpx.post(f"{url}/api/v1/studies", json=tpe_spec("tpe", TPE_TRIALS)).json()["id"]
    journal = tmp_path / "journal.jsonl"
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = [
            start_sim_worker(url, journal, name=f"w{i}", steps=3, step_seconds=0.15)
            for i in range(WORKERS)
        ]
        total = GRID_POINTS + TPE_TRIALS
        victim = servers[1]
        for round_ in (1, 2):
            target = total * round_ // 3
            wait_for(lambda t=target: completed(url, [grid, tpe]) >= t, 60, "progress")
            victim.kill()
            # Work goes on through the two others while it is down.
            wait_for(lambda t=target + 4: completed(url, [grid, tpe]) >= t, 60, "work without it")
            victim.start()
        wait_for(lambda: completed(url, [grid, tpe]) >= total, 90, "both studies to finish")
    finally:
        for w in workers:
            w.kill()
            w.wait(timeout=30)
    assert victim.starts == 3
    grid_trials, tpe_trials = all_trials(url, grid), all_trials(url, tpe)
    # Every grid point completed exactly once, each with its own value.
    assert sorted(t["params"]["x"] for t in grid_trials) == list(range(GRID_POINTS))
    assert Counter(t["state"] for t in grid_trials) == {"completed": GRID_POINTS}
    # The TPE configurations are distinct (pending trials are given to the sampler).
    assert Counter(t["state"] for t in tpe_trials) == {"completed": TPE_TRIALS}
    configs = {(t["params"]["x"], t["params"]["y"]) for t in tpe_trials}
    assert len(configs) == TPE_TRIALS, "two TPE trials got the same configuration"
    by_id = {t["id"]: t for t in grid_trials + tpe_trials}
    for t in by_id.values():
        assert t["value"] == objective(t["params"]), f"trial {t['id']} holds another's value"
        assert t["attempt"] <= MAX_ATTEMPTS, t
    acknowledged = [e for e in read_journal(journal) if e["event"] == "completed"]
    assert len(acknowledged) >= total
    for entry in acknowledged:  # the API acknowledged it: it is there, unchanged
        stored = by_id[entry["trial_id"]]
        assert (stored["state"], stored["value"]) == ("completed", entry["value"]), entry
    for sid in (grid, tpe):
        assert httpx.get(f"{url}/api/v1/studies/{sid}", timeout=10).json()["state"] == "completed"


def test_a_study_raised_or_cancelled_on_one_replica_is_seen_by_the_other(
    tmp_path: Path, pg_url: str, started: ExitStack
) -> None:
    one, other = replicas(tmp_path, pg_url, 2)
    _start([one, other], started)
    a, b = Client(one.url, retries=0), Client(other.url, retries=0)
    pools = ["cache"]  # nobody else claims here

    def claim_on_b() -> Any:
        return b.claim("b-worker", pools=pools)

    def run_on_b(n: int) -> list[int]:
        """Claim and complete `n` trials through replica B: its sampler cache holds the study."""
        ids = []
        for _ in range(n):
            lease = claim_on_b()
            assert lease is not None
            b.complete(lease.trial_id, lease.lease_token, objective(lease.params))
            ids.append(lease.trial_id)
        return ids

    spec = {**tpe_spec("raised", 4, max_parallel=8), "resources": {"pool": "cache"}}
    study = a.create_study(spec).id
    run_on_b(3)
    # Raised through A: B's next claims serve the new budget (4 more, not 1).
    assert a.update_study(study, n_trials=7).n_trials == 7
    held = [claim_on_b() for _ in range(4)]
    assert all(lease is not None for lease in held)
    assert claim_on_b() is None  # 7 created: the raised budget is used
    for lease in held:
        b.complete(lease.trial_id, lease.lease_token, objective(lease.params))
    assert b.get_study(study).state == "completed"
    # A completed study raised through A runs again on B.
    a.update_study(study, n_trials=9)
    run_on_b(2)
    assert b.get_study(study).state == "completed"
    params = [tuple(t.params.values()) for t in b.trials(study).items]
    assert len(params) == 9 == len(set(params))

    # Cancelled through A, with a trial of it held through B: B hands out no more of it.
    cancelled = a.create_study({**spec, "name": "cancelled"}).id
    run_on_b(2)
    lease = claim_on_b()
    assert lease is not None
    a.update_study(cancelled, action="cancel")
    assert claim_on_b() is None
    with pytest.raises(ApiError) as refused:
        b.complete(lease.trial_id, lease.lease_token, 1.0)
    assert refused.value.status == 409
    counts = b.get_study(cancelled).counts
    assert counts.get("completed") == 2 and sum(counts.values()) == 3, counts
