"""What the two services that create studies (`StudyService`, `ComparisonService`) share: the
database, the callback for a study that is over, and the settings of the checks made at
creation (budget caps, dataset roots)."""

from __future__ import annotations

from collections.abc import Callable

from hpo.service.budgets import BudgetLimits
from hpo.storage import Database


class CreatesStudies:
    def __init__(
        self,
        db: Database,
        *,
        on_over: Callable[[int], None] | None = None,
        on_deleted: Callable[[int], None] | None = None,
        limits: BudgetLimits | None = None,
        dataset_roots: tuple[str, ...] = (),
    ) -> None:
        """`on_over(study_id)`: called after a study is completed, cancelled or deleted here
        (the dispatcher's sampler cache drops it). `on_deleted(study_id)`: after a study is
        deleted (its artifacts go too). `limits`: the budget caps (422 past them).
        `dataset_roots`: where a dataset may name an absolute path (hpo.dataset_location)."""
        self.db = db
        self.on_over = on_over
        self.on_deleted = on_deleted
        self.limits = limits or BudgetLimits()
        self.dataset_roots = dataset_roots

    def _deleted(self, study_id: int) -> None:
        if self.on_deleted is not None:
            self.on_deleted(study_id)
