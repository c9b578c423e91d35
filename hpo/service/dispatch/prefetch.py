"""A background thread that runs jobs keyed by study, each at most once in the queue.

Used to prepare a study's next suggestion as soon as a result comes in (see
`hpo.service.dispatch.suggestions`), off the request threads: a claim then finds it ready instead of
asking the sampler while it holds the study lock. The thread starts on demand and exits when
the queue is empty, so an idle service (or a test's) keeps no thread around.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger("hpo.service.prefetch")


class Prefetcher:
    """`schedule(key)` runs `job(key)` soon on the background thread. A key already waiting
    is not queued twice (the job reads the latest state when it runs); a key whose job is
    running is queued again, since what it read may already be stale."""

    def __init__(self, job: Callable[[int], None]) -> None:
        self._job = job
        self._queue: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def schedule(self, key: int) -> None:
        with self._lock:
            self._queue[key] = None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="hpo-prefetch", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued or running (tests); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._thread is None, timeout)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    self._idle.notify_all()
                    return
                key, _ = self._queue.popitem(last=False)
            try:
                self._job(key)
            except Exception as e:  # a failed prefetch only costs the claim its head start
                log.warning("background job for study %s failed: %s", key, e, exc_info=True)
