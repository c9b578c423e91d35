"""What both halves of the dispatcher (`Claims`, `Results`) are built on: the database, the
study suggestions, the metrics, the lease length and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

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
        self.set_up()

    def set_up(self) -> None:
        """What a part adds to the shared state (called at the end of `__init__`)."""
