"""The second half of a worker's trial run: sending an Outcome (hpo.worker.loop.Worker.send)
over real HTTP to a recording API. A failure is a `fail` with its class and message; a
result goes with the next claim, or alone when the worker stops after it; a pruned or
abandoned trial sends nothing; a refusal because the lease is gone is dropped."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from hpo.wire import Lease
from hpo.worker import Outcome, Worker, WorkerOptions

LEASE_JSON: dict[str, Any] = {
    "trial_id": 7, "study_id": 2, "number": 3, "attempt": 1, "params": {"lr": 0.01},
    "config": {}, "lease_token": "hpol_" + "a" * 43, "lease_expires_at": "2099-01-01T00:00:00Z",
}  # fmt: skip
TRIAL_JSON: dict[str, Any] = {
    "id": 7, "study_id": 2, "number": 3, "state": "completed", "params": {"lr": 0.01},
    "value": 0.5, "metrics": None, "attempt": 1, "worker_id": "w", "device": "cpu",
    "created_at": "2026-01-01T00:00:00Z", "started_at": None, "finished_at": None,
    "failure_class": None, "failure_message": None, "last_step": None,
    "last_report_value": None, "duration_s": None,
}  # fmt: skip


class RecordingApi(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    status: ClassVar[int] = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).requests.append((self.path, body))
        if type(self).status != 200:
            answer: Any = {"detail": "lease lost"}
        elif self.path.endswith("/complete-and-claim"):
            answer = {"trial": TRIAL_JSON, "next": {**LEASE_JSON, "trial_id": 8}}
        else:
            answer = TRIAL_JSON
        payload = json.dumps(answer).encode()
        self.send_response(type(self).status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:  # quiet
        pass


@pytest.fixture
def api() -> Iterator[str]:
    RecordingApi.requests, RecordingApi.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def worker(api: str, **options: Any) -> Worker:
    return Worker(WorkerOptions(api=api, device="cpu", worker_id="w-send", **options))


LEASE = Lease.from_json(LEASE_JSON)


def test_a_failure_is_sent_with_its_class_and_message(api: str) -> None:
    assert worker(api).send(LEASE, Outcome.failed("oom", "out of memory"), "cpu") is None
    [(path, body)] = RecordingApi.requests
    assert path == "/api/v1/trials/7/fail"
    assert (body["failure_class"], body["message"]) == ("oom", "out of memory")
    assert body["lease_token"] == LEASE.lease_token


def test_a_result_goes_with_the_next_claim(api: str) -> None:
    outcome = Outcome("completed", value=0.5, metrics={"epochs": 2})
    following = worker(api).send(LEASE, outcome, "cpu")
    assert following == replace(LEASE, trial_id=8)
    [(path, body)] = RecordingApi.requests
    assert path == "/api/v1/trials/7/complete-and-claim"
    assert (body["value"], body["metrics"], body["worker_id"]) == (0.5, {"epochs": 2}, "w-send")
    assert body["devices"] == ["cpu"]


def test_the_last_result_before_max_trials_goes_alone(api: str) -> None:
    outcome = Outcome("completed", value=0.5)
    assert worker(api, max_trials=1).send(LEASE, outcome, "cpu") is None
    assert [path for path, _ in RecordingApi.requests] == ["/api/v1/trials/7/complete"]


@pytest.mark.parametrize("kind", ["pruned", "abandoned"])
def test_a_pruned_or_abandoned_trial_sends_nothing(api: str, kind: Any) -> None:
    assert worker(api).send(LEASE, Outcome(kind), "cpu") is None
    assert RecordingApi.requests == []


def test_a_result_refused_because_the_lease_is_gone_is_dropped(api: str) -> None:
    RecordingApi.status = 409
    assert worker(api).send(LEASE, Outcome("completed", value=0.5), "cpu") is None
    assert len(RecordingApi.requests) == 1  # not retried: only the server knows it moved on
