"""What both halves of the dispatcher (`Claims`, `Results`) are built on: the database, the
study suggestions, the metrics, the lease length and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from hpo.service.dispatch.suggestions import Suggestions
from hpo.service.metrics import Metrics
from hpo.storage import Database


class DispatchPart:
    def __init__(
        self,
        db: Database,
        suggestions: Suggestions,
        metrics: Metrics,
        *,
        lease: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.db = db
        self.suggestions = suggestions
        self.metrics = metrics
        self.lease = lease
        self.clock = clock
        # Where a finished trial is written for the tracking sink (hpo/service/tracking/),
        # in the transaction that finished it; None: no tracking.
        self.outbox: Callable[[Session, int], None] | None = None
        self.set_up()

    def finished(self, session: Session, trial_id: int) -> None:
        """A trial ended for good (completed, pruned, failed) in this transaction."""
        if self.outbox is not None:
            self.outbox(session, trial_id)

    def set_up(self) -> None:
        """What a part adds to the shared state (called at the end of `__init__`)."""
