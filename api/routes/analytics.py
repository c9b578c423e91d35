"""/api/v1/studies/{id}/plots, /curves and /importance: what the web UI plots, aggregated on
the server (hpo.service.analytics). Reads, so they take the read scope (api/deps.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Read, get_service
from hpo.service import Service, StudyAnalytics
from hpo.service.analytics import StudyCurves, StudyPlots
from hpo.service.importance import ImportanceView

router = APIRouter(prefix="/api/v1/studies", tags=["analytics"], dependencies=[Read])


async def get_analytics(service: Annotated[Service, Depends(get_service)]) -> StudyAnalytics:
    return service.analytics


AnalyticsDep = Annotated[StudyAnalytics, Depends(get_analytics)]


@router.get("/{study_id}/plots")
def plots(study_id: int, analytics: AnalyticsDep) -> StudyPlots:
    return analytics.plots(study_id)


@router.get("/{study_id}/curves")
def curves(
    study_id: int,
    analytics: AnalyticsDep,
    best: Annotated[int, Query(ge=0, le=200)] = 20,
    latest: Annotated[int, Query(ge=0, le=500)] = 80,
    max_points: Annotated[int, Query(ge=2, le=1000)] = 100,
) -> StudyCurves:
    return analytics.curves(study_id, best=best, latest=latest, max_points=max_points)


@router.get("/{study_id}/importance")
def importance(study_id: int, analytics: AnalyticsDep) -> ImportanceView:
    return analytics.importance(study_id)
