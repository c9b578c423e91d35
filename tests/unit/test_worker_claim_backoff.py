"""`hpo worker` over real HTTP against a server whose claims fail: a 5xx or a 400/422 answer
is logged (one line each) and the claim retried after a capped, growing wait; the worker
never exits on it (issue 11: 3 and 6). A wrong token still stops it."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from hpo.client import ApiError
from hpo.worker import Worker, WorkerOptions


class ScriptedApi(BaseHTTPRequestHandler):
    """Answers each claim with the next status of `script`, then 204 (no work) for good."""

    script: ClassVar[list[int]] = []
    claims: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).claims.append(body)
        status = type(self).script.pop(0) if type(self).script else 204
        payload = b"" if status == 204 else json.dumps({"detail": f"scripted {status}"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:  # quiet
        pass


@pytest.fixture
def api() -> Iterator[str]:
    ScriptedApi.script, ScriptedApi.claims = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield f"http://127.0.0.1:{server.server_address[1]}"
    for sig, handler in handlers.items():  # Worker.run installs its own
        signal.signal(sig, handler)
    server.shutdown()
    server.server_close()


def worker(api: str) -> Worker:
    options = WorkerOptions(
        api=api,
        device="cpu",
        exit_when_idle=True,  # the first 204 ends the run
        worker_id="w-backoff",
        claim_backoff_seconds=0.01,
        max_claim_backoff_seconds=0.04,
    )
    return Worker(options)


def test_a_worker_retries_claims_the_api_fails_and_does_not_exit(
    api: str, caplog: pytest.LogCaptureFixture
) -> None:
    ScriptedApi.script = [500, 500, 422, 400, 500, 500]
    with caplog.at_level(logging.WARNING, logger="hpo.worker"):
        assert worker(api).run() == 0
    assert len(ScriptedApi.claims) == 7  # six failed, the seventh answered (no work)
    lines = [r.getMessage() for r in caplog.records if "claim answered" in r.getMessage()]
    assert len(lines) == 6
    assert lines[0].startswith("claim answered 500 (scripted 500)")
    waits = [float(line.rsplit("in ", 1)[1].split()[0]) for line in lines]
    assert waits == sorted(waits) and max(waits) <= 0.04  # grows, capped


def test_a_wrong_token_still_stops_the_worker(api: str) -> None:
    ScriptedApi.script = [401]
    with pytest.raises(ApiError) as refused:
        worker(api).run()
    assert refused.value.status == 401
