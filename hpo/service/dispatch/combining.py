"""Serving concurrent requests in batches: one thread runs a batch for everyone waiting.

Claims of one study serialize on its lock. Measured on bench/dispatch_throughput.py (32 workers,
PostgreSQL): a dozen claimers waited on the study's row lock at any moment, while its holder
was mostly waiting for its own Python thread to get the interpreter back between statements.
The lock's throughput was the service's. So the claims that arrive while one is running are
taken together by the next one: one transaction, one lock, one read of the active trials,
one sampler ask for all, one multi-row INSERT, one commit.

This is flat combining, with no timer: a request that finds fewer than `max_running` batches
running runs at once (a batch of one, as before); requests that arrive meanwhile queue, and
when a running batch ends, the first of them runs the next batch for all queued (up to
`max_batch`) while the others sleep until their answer is ready. Several batches may run at
once (`max_running`) so that one slow batch (a model-based sampler's ask on a big study, under
its lock) does not hold up the claims of other studies: the next batch skips the locked study.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass
class _Slot(Generic[Request, Result]):
    request: Request
    ready: threading.Event = field(default_factory=threading.Event)
    lead: bool = False  # woken to run the next batch, not with an answer
    result: Result | None = None
    error: BaseException | None = None


class Combiner(Generic[Request, Result]):
    """`submit(request)` returns `run_batch([..., request, ...])`'s answer for it.

    `run_batch` gets the requests in arrival order and returns one result per request, in the
    same order. It runs in the thread of one of the batch's requests, in at most `max_running`
    threads at once. If it raises for a batch of several, each request is run again alone
    (`rerun_alone(error)` permitting, e.g. not when the database is down), so one request
    that fails never fails the others; a request alone gets its own exception.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Request]], Sequence[Result]],
        max_batch: int = 32,
        max_running: int = 1,
        rerun_alone: Callable[[BaseException], bool] = lambda _error: True,
    ) -> None:
        self._run_batch = run_batch
        self._rerun_alone = rerun_alone
        self.max_batch = max_batch
        self.max_running = max_running
        self._mutex = threading.Lock()
        self._queue: list[_Slot[Request, Result]] = []
        self._running = 0  # batches running now
        self.batches = 0  # batches run (tests, metrics)
        self.requests = 0  # requests served

    def submit(self, request: Request) -> Result:
        slot: _Slot[Request, Result] = _Slot(request)
        with self._mutex:
            lead = self._running < self.max_running
            if lead:
                self._running += 1
            self._queue.append(slot)
        if not lead:
            slot.ready.wait()
            lead = slot.lead
        if lead:
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set by the batch that ran it

    def _lead(self, own: _Slot[Request, Result]) -> None:
        """Run one batch of the queue (this thread's own request in it), answer it, then hand
        the lead to the first request still queued, if any."""
        with self._mutex:
            # Our own slot, and those queued not yet handed the lead of a batch of their own
            # (another batch ending may have promoted one just before we took ours).
            others = [q for q in self._queue if q is not own and not q.lead]
            batch = [own, *others[: self.max_batch - 1]]
            taken = {id(q) for q in batch}
            self._queue = [q for q in self._queue if id(q) not in taken]
        try:
            self._answer(batch)
        finally:
            with self._mutex:
                self.batches += 1
                self.requests += len(batch)
                following = next((q for q in self._queue if not q.lead), None)
                if following is None:
                    self._running -= 1
                else:
                    following.lead = True
            for slot in batch:
                if slot is not own:
                    slot.ready.set()
            if following is not None:
                following.ready.set()

    def _answer(self, batch: list[_Slot[Request, Result]]) -> None:
        """Set every slot's result or error: the batch at once, or, if that raises, each
        request alone (the batch's other requests must not share one request's failure)."""
        try:
            results = self._run_batch([slot.request for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} requests got {len(results)} answers")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
            return
        except Exception as e:
            if len(batch) == 1 or not self._rerun_alone(e):
                for slot in batch:
                    slot.error = e
                return
        except BaseException as e:  # KeyboardInterrupt and the like: no retries
            for slot in batch:
                slot.error = e
            return
        for slot in batch:
            try:
                (slot.result,) = self._run_batch([slot.request])
            except BaseException as e:  # this request's own failure, for it alone
                slot.error = e
