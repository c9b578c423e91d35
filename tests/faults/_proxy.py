"""A small TCP proxy (asyncio, in a background thread) that misbehaves on purpose between
workers and the API: it delays requests, drops connections before a request is forwarded,
cuts a request in the middle, and forwards a request but drops its response (so the request
landed and the client never heard: the retry must be a no-op).

    with FaultyProxy(target_port, rates=...) as proxy:
        Client(proxy.url)...
    proxy.injected  # Counter of faults by kind, and by kind and path for dropped responses
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(frozen=True)
class FaultRates:
    """Per request (a chunk from the client), the probability of each fault."""

    delay: float = 0.05  # hold the request 50-300 ms
    drop_request: float = 0.02  # close the connection without forwarding
    cut_request: float = 0.02  # forward half the request, then close
    drop_response: float = 0.03  # forward the request, then close before the response
    # Extra chance to drop the response of a complete: the retry-after-landed case.
    drop_complete_response: float = 0.3


@dataclass
class FaultyProxy:
    target_port: int
    rates: FaultRates = field(default_factory=FaultRates)
    seed: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    port: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faulty-proxy", daemon=True)
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _shutdown(self) -> None:
        """Close the listener and end every connection still open, so none is left pending."""
        if self._server is not None:
            self._server.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        # Set when the response to the request just forwarded must be swallowed.
        swallow = asyncio.Event()
        done = asyncio.Event()

        async def upstream() -> None:
            while not done.is_set():
                chunk = await client_r.read(65_536)
                if not chunk:
                    break
                fault = self._choose(chunk)
                if fault == "delay":
                    await asyncio.sleep(self._rng.uniform(0.05, 0.3))
                elif fault == "drop_request":
                    break
                elif fault == "cut_request":
                    server_w.write(chunk[: max(1, len(chunk) // 2)])
                    await server_w.drain()
                    break
                elif fault == "drop_response":
                    swallow.set()
                server_w.write(chunk)
                await server_w.drain()
            done.set()

        async def downstream() -> None:
            while not done.is_set():
                chunk = await server_r.read(65_536)
                if not chunk:
                    break
                if swallow.is_set():
                    break  # the request landed; its client never hears
                client_w.write(chunk)
                await client_w.drain()
            done.set()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        await done.wait()
        for task in tasks:
            task.cancel()
        for writer in (client_w, server_w):
            writer.close()

    def _choose(self, chunk: bytes) -> str | None:
        line = chunk.split(b"\r\n", 1)[0].decode("latin-1")
        is_complete = line.startswith("POST ") and (
            "/complete " in line or "/complete-and-claim " in line
        )
        r = self._rng.random()
        rates = self.rates
        drop_response = rates.drop_response + (rates.drop_complete_response if is_complete else 0)
        for kind, p in (
            ("delay", rates.delay),
            ("drop_request", rates.drop_request),
            ("cut_request", rates.cut_request),
            ("drop_response", drop_response),
        ):
            if r < p:
                self.injected[kind] += 1
                if kind == "drop_response" and is_complete:
                    self.injected["drop_response_of_complete"] += 1
                return kind
            r -= p
        return None
