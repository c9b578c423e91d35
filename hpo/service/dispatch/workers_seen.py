"""Which workers' rows (host, devices, pools, last seen) a claim must refresh.

A worker's row is refreshed by its claims at most every `WORKER_SEEN_INTERVAL_S`: every claim
of a busy worker would otherwise add an upsert (two statements) to the claim.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

WORKER_SEEN_INTERVAL_S = 5.0

# Bounded memory whatever the worker ids: past this many, the record starts over.
_MAX_REMEMBERED = 100_000


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() of the last upsert
    host: str
    devices: tuple[str, ...]
    pools: tuple[str, ...]


class WorkersSeen:
    """What this process last wrote on each worker's row."""

    def __init__(self) -> None:
        self._seen: dict[str, Seen] = {}

    def stale(
        self, claims: Iterable[tuple[str, str, tuple[str, ...], tuple[str, ...]]]
    ) -> dict[str, Seen]:
        """Of (worker_id, host, devices, pools) claims, the rows to refresh, with what to
        write."""
        stale: dict[str, Seen] = {}
        for worker_id, host, devices, pools in claims:
            seen = Seen(time.monotonic(), host, devices, pools)
            last = self._seen.get(worker_id)
            if len(self._seen) > _MAX_REMEMBERED:
                self._seen.clear()
            if (
                last is None
                or seen.at - last.at >= WORKER_SEEN_INTERVAL_S
                or (last.host, last.devices, last.pools) != (seen.host, seen.devices, seen.pools)
            ):
                stale[worker_id] = seen
        return stale

    def written(self, rows: dict[str, Seen]) -> None:
        """The rows were committed: they are at most this old."""
        self._seen.update(rows)
