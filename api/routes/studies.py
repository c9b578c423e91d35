"""/api/v1/studies: create, list, read, change, delete; trials, leaderboard, best, enqueue."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Response, status

from api.deps import Admin, ServiceDep
from api.schemas import BestOut, EnqueueBody, StudyOut, StudyPatch, TrialOut, TrialPage
from hpo.spec import StudySpec
from hpo.storage import StudyState, TrialState

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def create_study(spec: StudySpec, service: ServiceDep) -> StudyOut:
    return StudyOut.model_validate(service.studies.create(spec), from_attributes=True)


@router.get("")
def list_studies(
    service: ServiceDep,
    state: StudyState | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[StudyOut]:
    views = service.studies.list_studies(state=state, offset=offset, limit=limit)
    return [StudyOut.model_validate(v, from_attributes=True) for v in views]


@router.get("/{study_id}")
def get_study(study_id: int, service: ServiceDep) -> StudyOut:
    return StudyOut.model_validate(service.studies.get(study_id), from_attributes=True)


@router.patch("/{study_id}", dependencies=[Admin])
def update_study(study_id: int, body: StudyPatch, service: ServiceDep) -> StudyOut:
    view = service.studies.update(study_id, action=body.action, n_trials=body.n_trials)
    return StudyOut.model_validate(view, from_attributes=True)


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Admin])
def delete_study(study_id: int, service: ServiceDep) -> Response:
    service.studies.delete(study_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/trials")
def list_trials(
    study_id: int,
    service: ServiceDep,
    state: TrialState | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TrialPage:
    views, total = service.studies.trials(study_id, state=state, offset=offset, limit=limit)
    items = [TrialOut.model_validate(v.to_dict()) for v in views]
    return TrialPage(items=items, total=total, offset=offset, limit=limit)


@router.get("/{study_id}/leaderboard")
def leaderboard(
    study_id: int, service: ServiceDep, k: Annotated[int, Query(ge=1, le=1000)] = 10
) -> list[TrialOut]:
    return [TrialOut.model_validate(v.to_dict()) for v in service.studies.leaderboard(study_id, k)]


@router.get("/{study_id}/best", response_model=BestOut)
def best(study_id: int, service: ServiceDep, format: Literal["json", "yaml"] = "json") -> Any:
    best = service.studies.best(study_id)
    if format == "yaml":
        # The training config alone: `hpo train best.yaml --final` takes it as it is.
        text = yaml.safe_dump(best.config, sort_keys=False)
        return Response(text, media_type="application/yaml")
    return best.to_dict()


@router.post("/{study_id}/trials", dependencies=[Admin])
def enqueue(study_id: int, body: EnqueueBody, service: ServiceDep, response: Response) -> TrialOut:
    view, created = service.studies.enqueue(study_id, body.params)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return TrialOut.model_validate(view.to_dict())
