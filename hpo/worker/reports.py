"""One attempt's reports to the API, built-in and command trials alike.

When the lease says a report may be answered "prune" (`Lease.sync_reports`: the study has a
pruner), each report is sent at once and its answer awaited, as before. Otherwise nothing in
the answer can stop the trial but a lost lease, so reports are kept and sent together, in one
request at most every FLUSH_SECONDS (counted from the attempt's start); what is left at the
end goes with the result (`take_rest`, into `complete` / `complete-and-claim`). A checkpoint
is uploaded only after `flush` (hpo.worker.checkpoints calls it first), so the server never
holds a checkpoint ahead of the reports it has: a worker killed mid-trial loses at most the reports
of its last unflushed second, which the resumed attempt makes again from the checkpoint.

    reports = ReportSender(client, lease, outage)
    answer = reports.add(step, value)   # "kept" | "sent" | "pruned" | "gone"
    rest = reports.take_rest()          # for the result
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Literal

from hpo.client import ApiError, ApiUnreachable, Client
from hpo.errors import HpoError
from hpo.outage import Outage
from hpo.wire import MAX_REPORTS_PER_REQUEST, Lease

log = logging.getLogger("hpo.worker")

# The most a report waits on the worker before it is sent (when reports come faster than
# this; a slower one goes at once). One second keeps a study page's curves live to the eye
# and a resumed attempt's lost work to a second, while a trial of many short epochs sends
# one request a second instead of one an epoch (each a committed write on the server).
FLUSH_SECONDS = 1.0

# Answers that mean "this trial is no longer yours" (as hpo.worker.trial's LEASE_GONE).
_LEASE_GONE = frozenset({404, 409})

# What `add` says: kept for later; sent (the server has every report so far); the pruner
# stopped the trial; the lease is gone (abandon the trial).
Answer = Literal["kept", "sent", "pruned", "gone"]


class ReportSender:
    """One attempt's reports: sent one by one when they need an answer, else batched."""

    def __init__(
        self,
        client: Client,
        lease: Lease,
        outage: Outage,
        *,
        every_seconds: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.outage, self.clock = client, outage, clock
        self.trial_id, self.token = lease.trial_id, lease.lease_token
        # With a pruner, every report waits for its answer: no batching.
        self.every_seconds = 0.0 if lease.sync_reports else every_seconds
        self._pending: list[tuple[int, float]] = []
        # Counted from the attempt's start, not "the first at once": a trial shorter than a
        # second then sends no report request at all (its reports ride with the result), which
        # for short trials is a third of what orchestration costs (bench/orchestration.py).
        self._last_flush = clock()
        self._lock = threading.Lock()  # the trial's thread and the checkpoint timer's
        self.requests = 0  # report requests made (tests, logs)
        self.sent = 0  # reports that landed
        self.gone = False
        self.pruned = False

    @property
    def pending(self) -> int:
        return len(self._pending)

    def add(self, step: int, value: float) -> Answer:
        """Keep a report, and send what is kept when it is time to (always, with a pruner).
        During an outage nothing is sent (no epoch waits on the API): it goes later."""
        with self._lock:
            if self.gone or self.pruned:
                return "gone" if self.gone else "pruned"
            self._pending.append((step, value))
            due = self.clock() - self._last_flush >= self.every_seconds
            if not due or self.outage.seconds > 0:
                return "kept"
            return self._flush()

    def flush(self) -> bool:
        """Send every kept report now; True when the server has them all (nothing was kept,
        or they landed). Called before a checkpoint upload."""
        with self._lock:
            if not self._pending:
                return not self.gone
            return self._flush() == "sent"

    def take_rest(self) -> list[tuple[int, float]]:
        """The reports not sent yet, for the result to carry (at most
        MAX_REPORTS_PER_REQUEST: older ones are sent first; those that cannot be, during an
        outage, are dropped with a warning: the result matters more)."""
        with self._lock:
            while (
                len(self._pending) > MAX_REPORTS_PER_REQUEST
                and self._flush(limit=len(self._pending) - MAX_REPORTS_PER_REQUEST) == "sent"
            ):
                pass
            if len(self._pending) > MAX_REPORTS_PER_REQUEST:
                dropped = len(self._pending) - MAX_REPORTS_PER_REQUEST
                log.warning("trial %s: %d reports could not be sent", self.trial_id, dropped)
                self._pending = self._pending[dropped:]
            rest, self._pending = self._pending, []
            return rest

    def _flush(self, limit: int | None = None) -> Answer:
        """Send the kept reports (the oldest `limit` of them, at most a request's worth);
        the lock is held. Kept on an outage; dropped, with a warning, on any other error
        (a report that could not be sent is not worth the trial)."""
        count = min(len(self._pending), limit or MAX_REPORTS_PER_REQUEST, MAX_REPORTS_PER_REQUEST)
        batch = self._pending[:count]
        self._last_flush = self.clock()
        try:
            self.requests += 1
            if len(batch) == 1:  # the single form: what every server version takes
                pruned = self.client.report(self.trial_id, self.token, *batch[0])
            else:
                pruned = self.client.report_many(self.trial_id, self.token, batch)
        except ApiError as e:
            if e.status in _LEASE_GONE:
                self.gone = True
                self._pending.clear()
                return "gone"
            log.warning("trial %s: reports refused: %s", self.trial_id, e)
        except ApiUnreachable:
            return "kept"  # an outage: the next flush or the result carries them
        except HpoError as e:
            log.warning("trial %s: reports failed: %s", self.trial_id, e)
        else:
            self.sent += count
            if pruned:
                self.pruned = True
                self._pending.clear()
                return "pruned"
        del self._pending[:count]
        if self._pending:
            return self._flush()
        return "sent"
