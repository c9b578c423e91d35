"""The FastAPI application factory: `create_app(settings)`.

The app owns its engine, service and reaper (no module globals); they start in the lifespan
and stop with it. Routes are sync functions, so FastAPI runs them in its thread pool: sampler
and database work never blocks the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

import hpo
from api.errors import install_error_handlers
from api.http_edges import CompleteAllow, GzipOffTheWorkerPath, RequestCounter
from api.limits import BodySizeLimit
from api.routes import analytics, artifacts, comparisons, studies, system, trials, workers
from api.ui import install_ui
from hpo.artifacts import ArtifactLimits, LocalArtifactStore
from hpo.service import BudgetLimits, Reaper, Service
from hpo.service.tracking import TrackingSink
from hpo.settings import Settings
from hpo.storage import Database, create_engine_for, migrate

log = logging.getLogger("hpo.api")


def create_app(settings: Settings | None = None, *, service: Service | None = None) -> FastAPI:
    """Build the app. `service` may be passed in (tests that drive the clock); otherwise one
    is built on `settings.database_url`, migrated on start when `migrate_on_start`."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = service is None
        svc = service or _build_service(settings)
        app.state.service = svc
        reaper = Reaper(svc.dispatch, settings.reaper_interval_seconds)
        reaper.start()
        sink = _tracking_sink(settings, svc)
        try:
            yield
        finally:
            reaper.stop()
            if sink is not None:
                sink.stop()
            if own:
                svc.suggestions.close()
                svc.db.dispose()

    app = FastAPI(
        telemetry=None if settings.opentelemetry else _NO_TELEMETRY,
        title="hpo",
        version=hpo.__version__,
        description="Hyperparameter optimization as a service: studies, workers, leaderboards.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    if service is not None:
        app.state.service = service
    install_error_handlers(app)
    app.include_router(studies.router)
    app.include_router(comparisons.router)
    app.include_router(trials.router)
    app.include_router(artifacts.router)
    app.include_router(system.router)
    app.include_router(workers.router)
    app.include_router(analytics.router)
    install_ui(app)
    if settings.gzip_min_bytes > 0:
        # Bodies from this size on go gzipped to clients that accept it (the ECharts bundle,
        # the plot payloads of big studies); the worker protocol's small answers stay as
        # they are. Level 5: most of level 9's ratio on JSON at a fraction of its CPU.
        app.add_middleware(GzipOffTheWorkerPath, minimum_size=settings.gzip_min_bytes)
    # Artifact uploads stream to the store, which holds them to their own limits.
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_request_bytes, exempt=artifacts.UPLOAD_PATH
    )
    app.add_middleware(CompleteAllow)
    app.add_middleware(RequestCounter)  # outermost: counts refused and failed requests too
    return app


# FastAPI's native OpenTelemetry, off unless HPO_OPENTELEMETRY=1 (see `Settings.opentelemetry`).
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _tracking_sink(settings: Settings, service: Service) -> TrackingSink | None:
    """The MLflow sink, started, when a tracking URI is set (and the service writes the
    outbox it drains)."""
    if not settings.mlflow_tracking_uri or not service.tracking:
        return None
    from hpo.service.tracking.mlflow_writer import MlflowWriter

    writer = MlflowWriter(settings.mlflow_tracking_uri)
    sink = TrackingSink(
        service.db, writer, service.metrics, poll_seconds=settings.mlflow_poll_seconds
    )
    sink.start()
    return sink


def _build_service(settings: Settings) -> Service:
    pool: dict[str, int] = {}
    if not settings.database_url.startswith("sqlite"):
        pool = {
            "pool_size": settings.database_pool_size,
            "max_overflow": settings.database_max_overflow,
        }
    engine = create_engine_for(
        settings.database_url, sqlite_busy_timeout_s=settings.sqlite_busy_timeout_seconds, **pool
    )
    if settings.migrate_on_start:
        migrate(engine)
    return Service(
        Database(engine),
        lease_seconds=settings.lease_seconds,
        sampler_cache_max_observations=settings.sampler_cache_max_observations,
        sampler_processes=settings.sampler_processes,
        budget_limits=BudgetLimits(
            max_trials_per_study=settings.max_trials_per_study,
            max_studies_per_comparison=settings.max_studies_per_comparison,
        ),
        dataset_roots=settings.dataset_root_list,
        # A server's Database opens connections per session: the background thread that
        # prepares suggestions gets its own.
        prepare_suggestions=True,
        track_finished_trials=bool(settings.mlflow_tracking_uri),
        artifact_store=LocalArtifactStore(settings.artifacts_root),
        artifact_limits=ArtifactLimits(
            max_artifact_bytes=settings.max_artifact_bytes,
            max_study_bytes=settings.max_study_artifact_bytes,
        ),
        max_log_bytes=settings.max_log_bytes_per_attempt,
    )
