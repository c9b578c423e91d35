"""/api/v1/comparisons: samplers x seeds on one task and budget; curves and ranking."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import Admin, Read, ServiceDep
from api.schemas import ComparisonPatch, FinalResultBody
from hpo.comparison_spec import ComparisonSpec
from hpo.service import ComparisonSummary, ComparisonView, FinalResult

router = APIRouter(prefix="/api/v1/comparisons", tags=["comparisons"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def create_comparison(spec: ComparisonSpec, service: ServiceDep) -> ComparisonView:
    view = service.comparisons.create(spec)
    service.dispatch.work.notify()  # claims waiting for work (long-poll) try again now
    return view


@router.get("", dependencies=[Read])
def list_comparisons(
    service: ServiceDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ComparisonSummary]:
    return service.comparisons.list_comparisons(offset=offset, limit=limit)


@router.get("/{comparison_id}", dependencies=[Read])
def get_comparison(comparison_id: int, service: ServiceDep) -> ComparisonView:
    return service.comparisons.get(comparison_id)


@router.patch("/{comparison_id}", dependencies=[Admin])
def update_comparison(
    comparison_id: int, body: ComparisonPatch, service: ServiceDep
) -> ComparisonView:
    view = service.comparisons.update(comparison_id, body.action)
    service.dispatch.work.notify()  # a resume: waiting claims try again now
    return view


@router.delete("/{comparison_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Admin])
def delete_comparison(comparison_id: int, service: ServiceDep) -> Response:
    service.comparisons.delete(comparison_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/{comparison_id}/final/{sampler}", dependencies=[Admin])
def record_final(
    comparison_id: int, sampler: str, body: FinalResultBody, service: ServiceDep
) -> ComparisonView:
    result = FinalResult(**body.model_dump(exclude={"seeds"}), seeds=tuple(body.seeds))
    return service.comparisons.record_final(comparison_id, sampler, result)
