"""End to end over HTTP: long-poll claims (`wait_seconds` in the body of a claim). A claim
held for want of work is answered with a lease as soon as one can be served (a study created,
a running trial completed under `max_parallel`), well before its wait is over; with no work it
answers 204 once the wait is over; a wait above HPO_CLAIM_MAX_WAIT_SECONDS is clamped to it,
and one above the hard ceiling (3600 s) is refused with 422. A worker held in a long-poll
claim still stops on SIGTERM, once the held claim answers."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._servers import hpo_argv, running_server

pytestmark = [pytest.mark.e2e]

WAIT = 10.0  # what the held claims ask for; each must come back before it

SPEC: dict[str, Any] = {
    "name": "e2e-long-poll",
    "task": {"model": "mlp", "dataset": "mnist1d", "epochs": 1, "metric": "val_accuracy"},
    "space": {"lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
    "fixed": {"depth": 1, "width": 16, "batch_size": 64},
    "sampler": "random",
    "budget": {"n_trials": 4, "max_parallel": 1},
}
CLAIM = {"worker_id": "long-poll-test", "host": "", "devices": []}


def serve(tmp_path: Path, factory: pytest.TempPathFactory, **env: str) -> Any:
    cache = factory.getbasetemp() / "dataset-cache"
    return running_server(tmp_path, cache, lease_seconds=300, extra_env=env)


@pytest.fixture
def url(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path, tmp_path_factory) as (base, _env):
        yield base


def claim(url: str, wait: float) -> httpx.Response:
    body = {**CLAIM, "wait_seconds": wait} if wait else CLAIM  # no field: today's claim
    return httpx.post(f"{url}/api/v1/workers/claim", json=body, timeout=wait + 30)


def held_claim(url: str, wait: float) -> tuple[threading.Thread, dict[str, Any]]:
    """Start a claim with `wait_seconds=wait` in a thread; the dict gets its answer and how
    long it took."""
    answer: dict[str, Any] = {}

    def run() -> None:
        start = time.monotonic()
        answer["response"] = claim(url, wait)
        answer["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, answer


def answered_with_a_lease(url: str, make_work: Callable[[], None]) -> dict[str, Any]:
    thread, answer = held_claim(url, WAIT)
    time.sleep(0.5)  # the claim is being held (no work yet)
    assert thread.is_alive(), f"answered before there was work: {answer}"
    make_work()
    thread.join(WAIT + 30)
    response = answer["response"]
    assert response.status_code == 200, response.text
    assert response.json()["lease_token"]
    # Answered because work appeared, not because the wait ran out.
    assert answer["seconds"] < WAIT, answer
    return dict(response.json())


def test_a_held_claim_gets_the_trial_of_a_study_created_while_it_waits(url: str) -> None:
    def create() -> None:
        httpx.post(f"{url}/api/v1/studies", json=SPEC, timeout=10).raise_for_status()

    lease = answered_with_a_lease(url, create)
    assert lease["study_id"] >= 1


def test_a_held_claim_gets_the_slot_a_completed_trial_frees(url: str) -> None:
    httpx.post(f"{url}/api/v1/studies", json=SPEC, timeout=10).raise_for_status()
    first = claim(url, 0).json()  # max_parallel 1: the study is now full

    def complete() -> None:
        body = {"lease_token": first["lease_token"], "value": 0.5}
        path = f"{url}/api/v1/trials/{first['trial_id']}/complete"
        httpx.post(path, json=body, timeout=10).raise_for_status()

    second = answered_with_a_lease(url, complete)
    assert second["trial_id"] != first["trial_id"]


def test_no_work_answers_204_once_the_wait_is_over(url: str) -> None:
    start = time.monotonic()
    response = claim(url, 1.0)
    assert response.status_code == 204
    assert time.monotonic() - start >= 0.9  # it was held, not answered at once
    assert claim(url, 0).status_code == 204  # no wait: today's answer


def test_a_wait_above_the_cap_is_clamped_and_one_above_an_hour_refused(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with serve(tmp_path, tmp_path_factory, HPO_CLAIM_MAX_WAIT_SECONDS="0.5") as (base, _env):
        response = claim(base, 3600)  # held 0.5 s, not an hour
        assert response.status_code == 204
        refused = claim(base, 3601)
        assert refused.status_code == 422
        assert "wait_seconds" in refused.text


def test_sigterm_stops_a_worker_held_in_a_long_poll_claim(url: str, tmp_path: Path) -> None:
    worker_log = tmp_path / "worker.log"
    argv = hpo_argv("worker", "--api", url, "--device", "cpu", "--wait-seconds", "2",
                    "--no-warm-up", "-v")  # fmt: skip
    with worker_log.open("wb") as log:
        worker = subprocess.Popen(argv, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while "polling" not in worker_log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, worker_log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)  # inside a held claim now (no work on this server)
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert code == 0, worker_log.read_text()
