"""The worker fleet: `GET /api/v1/workers` (admin: host names and what each runs are the
operator's business, not every reader's)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Admin, ServiceDep
from hpo.service.views import WorkerView

router = APIRouter(prefix="/api/v1", tags=["workers"])


@router.get("/workers", dependencies=[Admin])
def list_workers(service: ServiceDep) -> list[WorkerView]:
    """The live workers (seen lately, or holding a live lease), by id: pools, devices, slots,
    the trials each runs now, when it was last seen."""
    return service.workers.live()
