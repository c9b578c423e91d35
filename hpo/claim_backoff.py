"""How `hpo worker` takes a claim the API could not answer: it waits and claims again.

A 5xx (a bug, a study whose sampler broke before the service paused it) or a 400/422/429 (a
claim this server refuses today, say a device name longer than it stores) is not a reason for
a fleet of workers to exit: the next claim may well succeed (another study, a fixed server),
and a worker that exits needs a person to start it again. So the worker logs one line, waits
(doubling from `first_seconds` up to `max_seconds`), and claims again; a claim that gets an
answer resets the wait. A wrong token (401/403) still stops it: that needs a person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hpo.client import ApiError

log = logging.getLogger("hpo.worker")

# 4xx answers to a claim that waiting may cure; every 5xx is one too.
_RETRIED_4XX = frozenset({400, 408, 422, 429})


def claim_answer_is_retried(error: ApiError) -> bool:
    return error.status >= 500 or error.status in _RETRIED_4XX


@dataclass
class ClaimBackoff:
    first_seconds: float = 1.0
    max_seconds: float = 60.0
    _next: float = field(default=0.0, init=False)

    def after(self, error: ApiError) -> float:
        """Seconds to wait before the next claim, after `error` (logged, one line)."""
        self._next = min(self.max_seconds, self._next * 2 if self._next else self.first_seconds)
        detail = str(error).splitlines()[0][:300] if str(error) else ""
        log.warning(
            "claim answered %s (%s): claiming again in %.3g s", error.status, detail, self._next
        )
        return self._next

    def reset(self) -> None:
        self._next = 0.0
