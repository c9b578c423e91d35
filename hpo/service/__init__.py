"""The service layer: studies, dispatch to workers, the reaper. No FastAPI here: `api/` is a
thin HTTP skin over these classes, and tests drive them directly on real databases.

    db = Database(create_engine_for(settings.database_url))
    service = Service(db, lease_seconds=settings.lease_seconds)
    study = service.studies.create(parse_study_spec(spec))
    comparison = service.comparisons.create(parse_comparison_spec(spec))
    lease = service.dispatch.claim("worker-1")
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from hpo.samplers import SamplerRegistry
from hpo.service.budgets import BudgetLimits
from hpo.service.client_tokens import ClientTokens
from hpo.service.comparison_views import ComparisonSummary, ComparisonView
from hpo.service.comparisons import ComparisonService, FinalResult
from hpo.service.dispatch import Dispatcher
from hpo.service.metrics import Metrics
from hpo.service.reaper import Reaper
from hpo.service.studies import StudyAction, StudyService
from hpo.service.views import BestConfig, CreatedStudy, Lease, StudyView, TrialView
from hpo.storage import Database, utcnow


class Service:
    """The studies half and the dispatch half over one database, sharing metrics."""

    def __init__(
        self,
        db: Database,
        *,
        lease_seconds: float = 120.0,
        registry: SamplerRegistry | None = None,
        clock: Callable[[], datetime] = utcnow,
        sampler_cache_max_observations: int = 200_000,
        budget_limits: BudgetLimits | None = None,
        dataset_roots: tuple[str, ...] = (),
    ) -> None:
        """`dataset_roots`: where a study's dataset may name an absolute path (see
        hpo.dataset_location)."""
        self.db = db
        self.metrics = Metrics()
        self.dispatch = Dispatcher(
            db,
            lease_seconds=lease_seconds,
            registry=registry,
            metrics=self.metrics,
            clock=clock,
            sampler_cache_max_observations=sampler_cache_max_observations,
        )
        # A study completed, cancelled or deleted leaves the sampler cache.
        forget = self.dispatch.samplers.forget
        self.studies = StudyService(
            db, on_over=forget, limits=budget_limits, dataset_roots=dataset_roots
        )
        self.comparisons = ComparisonService(
            db, on_over=forget, limits=budget_limits, dataset_roots=dataset_roots
        )
        self.client_tokens = ClientTokens(db)


__all__ = [
    "BestConfig",
    "BudgetLimits",
    "ComparisonService",
    "ComparisonSummary",
    "ComparisonView",
    "CreatedStudy",
    "Dispatcher",
    "FinalResult",
    "Lease",
    "Metrics",
    "Reaper",
    "Service",
    "StudyAction",
    "StudyService",
    "StudyView",
    "TrialView",
]
