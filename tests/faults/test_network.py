"""Network faults between workers and the API (a misbehaving TCP proxy): delayed requests,
connections dropped before a request, requests cut in the middle, and responses dropped after
the request landed. Workers retry; a retried complete that already landed is a no-op (200,
not a 409 and not a second completion); the study finishes with every grid point once."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import httpx
import pytest

from hpo.client import Client
from tests.faults._harness import api_server, check_study_outcome, grid_spec, read_journal
from tests.faults._proxy import FaultRates, FaultyProxy
from tests.faults.sim_worker import Journal, work

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCALE = int(os.environ.get("HPO_FAULTS_SCALE", "1"))  # a longer run for the bench figures


def test_workers_behind_a_faulty_network_lose_nothing(tmp_path: Path) -> None:
    points, n_workers = 40 * SCALE, 4
    journal = tmp_path / "journal.jsonl"
    rates = FaultRates(delay=0.05, drop_request=0.03, cut_request=0.03, drop_response=0.03)
    # A lease a lost claim answer costs: short, so the orphaned trial comes back soon.
    with (
        api_server(tmp_path, {"HPO_LEASE_SECONDS": "3"}) as api,
        FaultyProxy(api.port, rates, seed=1) as proxy,
    ):
        study = httpx.post(f"{api.url}/api/v1/studies", json=grid_spec("network", points)).json()
        stop = threading.Event()
        completed: list[int] = []

        def worker(i: int) -> None:
            client = Client(proxy.url, retries=10, backoff_seconds=0.05, max_backoff_seconds=1.0)
            completed.append(work(client, Journal(journal, f"t{i}"), name=f"t{i}", stop=stop))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_workers)]
        for t in threads:
            t.start()
        try:
            for _ in range(1200 * SCALE):
                state = httpx.get(f"{api.url}/api/v1/studies/{study['id']}").json()["state"]
                if state == "completed":
                    break
                stop.wait(0.1)
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        check_study_outcome(api.url, study["id"], points, journal)
        metrics = httpx.get(f"{api.url}/metrics").text
    events = read_journal(journal)
    refused = [e for e in events if e["event"] in ("refused", "vanished")]
    assert not refused, f"a retried request was refused: {refused[:3]}"
    total = re.search(r"^hpo_trials_completed_total (\d+)", metrics, re.M)
    assert total is not None and int(total.group(1)) == points, "a trial completed twice"
    injected = dict(proxy.injected)
    for kind in ("delay", "drop_request", "cut_request", "drop_response_of_complete"):
        assert injected.get(kind, 0) >= 1, f"no {kind} fault was injected: {injected}"
    print(f"\nnetwork faults injected: {injected}; {sum(completed)} completes acknowledged")
