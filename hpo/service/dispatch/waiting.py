"""Long-poll claims: a claim that finds no work waits, without holding a thread, until
something that can create claimable work happens in this process (`WorkSignal.notify`: a
result, a failure, a reap, a study created, resumed, changed or given a trial) or a recheck
interval passes (work created by another API replica is only seen by asking the database).

    signal = WorkSignal()
    lease = await claim_waiting(claim, signal, wait_seconds=10, recheck_seconds=1, run=...)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WorkSignal:
    """A per-process "there may be work now" signal, set from any thread and awaited from
    the event loop. A generation counter closes the gap between a claim finding nothing and
    its wait starting: a notify in between is seen, not lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def generation(self) -> int:
        return self._generation

    def notify(self) -> None:
        """Wake every waiting claim (cheap when none waits)."""
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            # A closed loop raises: nothing waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    async def wait(self, since: int, timeout: float) -> bool:
        """Wait until a notify after generation `since`, at most `timeout` s. True if woken."""
        event = asyncio.Event()
        key = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._generation != since:
                return True
            self._waiters.add(key)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(key)


async def claim_waiting(
    claim: Callable[[], T | None],
    signal: WorkSignal,
    *,
    wait_seconds: float,
    recheck_seconds: float,
    run: Callable[[Callable[[], T | None]], Awaitable[T | None]],
    gone: Callable[[], Awaitable[bool]] | None = None,
    tried_at: int | None = None,
) -> T | None:
    """`claim()` (run off the event loop by `run`), retried on each notify and every
    `recheck_seconds` until it gives something or `wait_seconds` have passed. With
    `wait_seconds` 0 this is one claim, exactly as without long-poll. `gone` says the client
    went away (nobody to hand a lease to: stop waiting). `tried_at`: the caller has just
    claimed and found nothing, after reading the signal's generation `tried_at`
    (complete-and-claim's own claim): the first claim here is skipped and the wait starts
    from that generation, so a notify since then is not lost."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    since = tried_at
    while True:
        if since is None:
            since = signal.generation
            found = await run(claim)
            if found is not None:
                return found
        left = deadline - loop.time()
        if left <= 0 or (gone is not None and await gone()):
            return None
        await signal.wait(since, min(left, recheck_seconds))
        since = None
