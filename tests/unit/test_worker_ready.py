"""Workers ready before the first claim (issue 12): the warm-up (torch and the trainers
imported, one tiny batch trained on the device) runs before the first claim unless
`--no-warm-up`; the long-poll signal wakes a held claim on a notify from any thread, and a
notify between a claim finding nothing and its wait starting is not lost."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from hpo.commands.worker import worker, worker_options
from hpo.service.dispatch.waiting import WorkSignal, claim_waiting
from hpo.worker import Worker, WorkerOptions
from hpo.worker.loop import _idle_pause
from trainers.warmup import warm_up


def test_warm_up_trains_a_batch_and_loads_the_trainers() -> None:
    seconds = warm_up("cpu")
    assert seconds > 0
    assert "torch" in sys.modules and "trainers.config" in sys.modules


def test_the_command_line_turns_the_warm_up_off_and_sets_the_wait() -> None:
    with worker.make_context("worker", []) as ctx:
        default = worker_options(ctx)
    assert default.warm_up and default.wait_seconds == 5.0
    with worker.make_context("worker", ["--no-warm-up", "--wait-seconds", "0"]) as ctx:
        given = worker_options(ctx)
    assert not given.warm_up and given.wait_seconds == 0


class NoWork(BaseHTTPRequestHandler):
    """Answers every claim 204 and keeps its body."""

    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    NoWork.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), NoWork)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("warm", [True, False])
def test_the_worker_warms_up_before_its_first_claim_unless_told_not_to(
    api: str, warm: bool, caplog: pytest.LogCaptureFixture
) -> None:
    options = WorkerOptions(api=api, device="cpu", exit_when_idle=True, warm_up=warm)
    with caplog.at_level(logging.INFO, logger="hpo.worker"):
        assert Worker(options).run() == 0
    ready = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ready in")]
    assert len(ready) == (1 if warm else 0)
    # Exit-when-idle claims once without a wait: holding it would only delay the exit.
    assert len(NoWork.bodies) == 1 and "wait_seconds" not in NoWork.bodies[0]


def test_the_pause_after_an_empty_claim() -> None:
    options = WorkerOptions(api="http://x", poll_seconds=2.0)
    assert _idle_pause(0, 0.01, options) == 2.0  # polling
    assert _idle_pause(5, 5.0, options) == 0  # held its full wait: claim again at once
    assert _idle_pause(5, 0.01, options) == 2.0  # answered at once: no hot loop


def test_a_notify_from_another_thread_wakes_a_held_claim() -> None:
    signal = WorkSignal()
    work: list[str] = []

    async def scenario() -> tuple[str | None, int]:
        attempts = 0

        def attempt() -> str | None:
            nonlocal attempts
            attempts += 1
            return work[0] if work else None

        async def run(f: object) -> str | None:
            return attempt()

        def create_work() -> None:
            work.append("lease")
            signal.notify()

        loop = asyncio.get_running_loop()
        loop.call_later(0.2, lambda: threading.Thread(target=create_work).start())
        # The recheck is far beyond the test: only the notify can end this wait early.
        found = await claim_waiting(attempt, signal, wait_seconds=60, recheck_seconds=60, run=run)
        return found, attempts

    found, attempts = asyncio.run(scenario())
    assert found == "lease" and attempts == 2


def test_a_notify_before_the_wait_starts_is_not_lost() -> None:
    signal = WorkSignal()
    since = signal.generation
    signal.notify()  # after the claim found nothing, before it waits
    assert asyncio.run(signal.wait(since, timeout=60)) is True
    assert asyncio.run(signal.wait(signal.generation, timeout=0.01)) is False


def test_no_wait_is_one_claim() -> None:
    calls: list[int] = []

    async def run(f: object) -> None:
        calls.append(1)
        return None

    found = asyncio.run(
        claim_waiting(lambda: None, WorkSignal(), wait_seconds=0, recheck_seconds=1, run=run)
    )
    assert found is None and calls == [1]
