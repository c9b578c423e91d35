"""What the two services that create studies (`StudyService`, `ComparisonService`) share: the
database, the callback for a study that is over, and the settings of the checks made at
creation (budget caps, dataset roots)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from hpo.service.budgets import BudgetLimits
from hpo.storage import Database, utcnow


class CreatesStudies:
    def __init__(
        self,
        db: Database,
        *,
        on_over: Callable[[int], None] | None = None,
        on_deleted: Callable[[int], None] | None = None,
        limits: BudgetLimits | None = None,
        dataset_roots: tuple[str, ...] = (),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`on_over(study_id)`: called after a study is completed, cancelled or deleted here
        (the dispatcher's sampler cache drops it). `on_deleted(study_id)`: after a study is
        deleted (its artifacts go too). `limits`: the budget caps (422 past them).
        `dataset_roots`: where a dataset may name an absolute path (hpo.dataset_location).
        `clock`: the dispatcher's (running trials' time so far, in the budget's use)."""
        self.db = db
        self.on_over = on_over
        self.on_deleted = on_deleted
        self.limits = limits or BudgetLimits()
        self.dataset_roots = dataset_roots
        self.clock = clock
        # Where a trial finished here (a cancel) is written for the tracking sink; None: no
        # tracking (see hpo/service/tracking/).
        self.outbox: Callable[[Session, int], None] | None = None

    def _deleted(self, study_id: int) -> None:
        if self.on_deleted is not None:
            self.on_deleted(study_id)
