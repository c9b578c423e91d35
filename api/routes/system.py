"""/healthz (public: a load balancer has no token) and /metrics (the read scope: trial counts
and request figures are reads like the others; give Prometheus HPO_READ_TOKEN)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

import hpo
from api.deps import Read, ServiceDep
from api.schemas import Health

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(service: ServiceDep) -> Health:
    # Touches the database, so a load balancer stops sending work to a replica that lost it.
    database = service.check_database()
    return Health(status="ok", version=hpo.__version__, database=database)


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Read])
def metrics(service: ServiceDep) -> str:
    return service.metrics_text()
