"""The reaper: a daemon thread in the API process that requeues trials whose lease expired
(and keeps the trials table's planner statistics current: `Dispatcher.upkeep`).

Every API replica may run one: `expired_leases` locks rows with SKIP LOCKED, so two reapers
never requeue the same trial twice.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from hpo.errors import HpoError

log = logging.getLogger("hpo.service.reaper")  # its name from before the dispatch package


class Reaps(Protocol):
    def reap(self) -> int:
        """Requeue (or fail) trials whose lease expired; how many."""
        ...

    def upkeep(self) -> bool:
        """Other periodic upkeep (the trials table's statistics); True when it did some."""
        ...


class Reaper:
    def __init__(self, dispatcher: Reaps, interval_seconds: float) -> None:
        self.dispatcher = dispatcher
        self.interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="hpo-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                reaped = self.dispatcher.reap()
                if reaped:
                    log.info("requeued %d trial(s) whose lease expired", reaped)
                self.dispatcher.upkeep()
            except HpoError as e:
                # The database may be restarting: try again at the next tick.
                log.warning("reaper: %s", e)
