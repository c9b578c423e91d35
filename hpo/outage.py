"""How long the API has been unreachable, said once a minute, and when to give up.

A worker outlives an outage of its API (a restart, a network cut): its client retries with
capped backoff for as long as it takes, and one `Outage`, shared by the worker's threads (the
loop and the heartbeats), says so in the log once a minute ("API unreachable for 2m:
retrying"), and raises `ApiGaveUp` once the outage is older than `give_up_after` seconds,
when the user asked for a limit (`hpo worker --give-up-after`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from hpo.errors import HpoError

log = logging.getLogger("hpo.worker")


class ApiGaveUp(HpoError):
    """The API stayed unreachable for longer than the worker was told to wait."""


class Outage:
    """The current outage, if any: started at the first failed attempt, ended by the first
    answer. Thread-safe."""

    def __init__(
        self,
        *,
        give_up_after: float | None = None,
        say_every: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.give_up_after = give_up_after
        self.say_every = say_every
        self.clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._said_at = 0.0

    def failed(self, url: str, error: str) -> None:
        """One attempt got no answer. Logs at the start and once every `say_every` seconds;
        raises ApiGaveUp past `give_up_after`."""
        with self._lock:
            now = self.clock()
            if self._since is None:
                self._since, self._said_at = now, now
                log.warning("API at %s unreachable (%s): retrying", url, error)
            elapsed = now - self._since
            if self.give_up_after is not None and elapsed >= self.give_up_after:
                raise ApiGaveUp(
                    f"gave up: the API at {url} was unreachable for {duration(elapsed)} "
                    f"(--give-up-after {self.give_up_after:g}); last error: {error}"
                )
            if now - self._said_at >= self.say_every:
                self._said_at = now
                log.warning("API unreachable for %s: retrying (%s)", duration(elapsed), error)

    def answered(self) -> None:
        """The API answered (any status): the outage, if there was one, is over."""
        if self._since is None:  # the common case, without taking the lock
            return
        with self._lock:
            if self._since is not None:
                log.warning("API reachable again after %s", duration(self.clock() - self._since))
                self._since = None

    @property
    def seconds(self) -> float:
        """How long the current outage has lasted; 0 when there is none."""
        since = self._since
        return 0.0 if since is None else self.clock() - since


def duration(seconds: float) -> str:
    """`45s`, `2m`, `1h5m`: whole units, as said in the log."""
    total = int(seconds)
    if total < 60:
        return f"{total}s"
    hours, minutes = divmod(total // 60, 60)
    if hours == 0:
        return f"{minutes}m"
    return f"{hours}h{minutes}m" if minutes else f"{hours}h"
