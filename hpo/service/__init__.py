"""The service layer: studies, dispatch to workers, the reaper. No FastAPI here: `api/` is a
thin HTTP skin over these classes, and tests drive them directly on real databases.

    db = Database(create_engine_for(settings.database_url))
    service = Service(db, lease_seconds=settings.lease_seconds)
    study = service.studies.create(parse_study_spec(spec))
    comparison = service.comparisons.create(parse_comparison_spec(spec))
    lease = service.dispatch.claim("worker-1")
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from hpo.artifacts import ArtifactLimits, ArtifactStore, LocalArtifactStore
from hpo.samplers import SamplerRegistry, default_registry
from hpo.service.analytics import StudyAnalytics
from hpo.service.annotations import TrialNotes
from hpo.service.artifacts import TrialArtifacts
from hpo.service.budgets import BudgetLimits
from hpo.service.client_tokens import ClientTokens
from hpo.service.comparison_views import ComparisonSummary, ComparisonView
from hpo.service.comparisons import ComparisonService, FinalResult
from hpo.service.dispatch import Dispatcher, Suggestions
from hpo.service.dispatch.reaper import Reaper
from hpo.service.logs import LogText, TrialLogs
from hpo.service.metrics import Metrics
from hpo.service.studies import StudyAction, StudyService
from hpo.service.views import BestConfig, CreatedStudy, Lease, StudyView, TrialView
from hpo.service.workers import WorkerFleet
from hpo.storage import Database, utcnow
from hpo.storage.repositories import tracking as tracking_outbox


class Service:
    """The studies half, the dispatch half and the analytics over one database, sharing
    metrics and one `Suggestions` (the sampler cache and its prefetcher)."""

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
        prepare_suggestions: bool = True,
        track_finished_trials: bool = False,
        artifact_store: ArtifactStore | None = None,
        artifact_limits: ArtifactLimits | None = None,
        max_log_bytes: int = 1 << 20,
        sampler_processes: int = 0,
    ) -> None:
        """`dataset_roots`: where a study's dataset may name an absolute path (see
        hpo.dataset_location). `prepare_suggestions`: ask model-based samplers in a background
        thread as soon as a result comes in (see `hpo.service.dispatch.suggestions`); pass
        False for a `Database` bound to one connection (tests), which a second thread must
        not share. `track_finished_trials`: write each finished trial to the tracking outbox
        for a `TrackingSink` (hpo/service/tracking/) to log, in the transaction that
        finished it. `sampler_processes`: child processes for busy studies' samplers (see
        `hpo.service.dispatch.sampler_cache`; `hpo serve` uses one, 0 here by default)."""
        self.db = db
        self.metrics = Metrics()
        self.suggestions = Suggestions(
            db,
            registry or default_registry(),
            self.metrics,
            prepare_in_background=prepare_suggestions,
            max_observations=sampler_cache_max_observations,
            sampler_processes=sampler_processes,
        )
        self.dispatch = Dispatcher(
            db, self.suggestions, lease_seconds=lease_seconds, metrics=self.metrics, clock=clock
        )
        self.artifacts = TrialArtifacts(
            db,
            artifact_store or _scratch_store(),
            artifact_limits or ArtifactLimits(1 << 30, 20 << 30),
        )
        self.logs = TrialLogs(db, max_bytes=max_log_bytes)
        # A study completed, cancelled or deleted leaves the sampler cache; a deleted study's
        # artifacts go with it.
        forget, deleted = self.suggestions.forget, self.artifacts.delete_study
        self.workers = WorkerFleet(db, clock=clock)
        self.studies = StudyService(
            db,
            on_over=forget,
            on_deleted=deleted,
            limits=budget_limits,
            dataset_roots=dataset_roots,
            clock=clock,
            fleet=self.workers,
        )
        self.comparisons = ComparisonService(
            db,
            on_over=forget,
            on_deleted=deleted,
            limits=budget_limits,
            dataset_roots=dataset_roots,
        )
        self.tracking = track_finished_trials
        if track_finished_trials:

            def outbox(session: Session, trial_id: int) -> None:
                tracking_outbox.enqueue(session, trial_id, clock())

            for part in (
                self.dispatch.claims,
                self.dispatch.results,
                self.studies,
                self.comparisons,
            ):
                part.outbox = outbox
        self.client_tokens = ClientTokens(db)
        self.notes = TrialNotes(db)
        self.analytics = StudyAnalytics(db)

    def metrics_text(self) -> str:
        """The Prometheus text of /metrics: the counters; trials by state and the claimable
        trial slots per pool (what an autoscaler scales workers on) as gauges."""
        totals = self.studies.trial_state_totals()
        series: dict[tuple[tuple[str, str], ...], float] = {
            (("state", state),): float(n) for state, n in totals.items()
        }
        slots: dict[tuple[tuple[str, str], ...], float] = {
            (("pool", pool),): float(n) for pool, n in self.workers.claimable_slots().items()
        }
        gauges = {"hpo_trials": series, "hpo_claimable_slots": slots}
        processes = self.suggestions.processes
        if processes is not None:
            # Asks in the sampler processes: their CPU is off this process's clock.
            gauges["hpo_sampler_process_cpu_seconds"] = {
                (("process", name),): cpu for name, cpu in processes.cpu_seconds.items()
            }
        if self.tracking:
            with self.db.transaction(write=False) as session:
                waiting = tracking_outbox.backlog(session)
            gauges["hpo_tracking_backlog"] = {(): float(waiting)}
        return self.metrics.render(gauges)

    def check_database(self) -> str:
        """Touch the database (a replica that lost it must fail its health check); returns
        the database's kind (sqlite, postgresql). One row of one table (the file and the
        schema are read, not only the connection) in a read transaction: a load balancer
        asks several times a second per replica, so this must not grow with the trials
        table (a count of trials by state did: bench/fragments/pools.md)."""
        with self.db.transaction(write=False) as session:
            session.execute(text("SELECT 1 FROM studies LIMIT 1"))
        return self.db.engine.dialect.name


def _scratch_store() -> LocalArtifactStore:
    return LocalArtifactStore(Path(tempfile.gettempdir()) / f"hpo-artifacts-{os.getpid()}")


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
    "LogText",
    "Metrics",
    "Reaper",
    "Service",
    "StudyAction",
    "StudyAnalytics",
    "StudyService",
    "StudyView",
    "Suggestions",
    "TrialArtifacts",
    "TrialLogs",
    "TrialView",
    "WorkerFleet",
]
