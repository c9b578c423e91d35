"""/api/v1/studies: create, list, read, change, delete; trials, leaderboard, best, enqueue,
the Pareto front and the hypervolume history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Query, Response, status

from api.deps import Admin, Read, ServiceDep
from api.schemas import EnqueueBody, HypervolumeOut, StudyPatch, TrialPage
from hpo.pick import PICK_GRAMMAR
from hpo.service import BestConfig, CreatedStudy, StudyView, TrialView
from hpo.spec import StudySpec
from hpo.states import StudyState, TrialState

router = APIRouter(prefix="/api/v1/studies", tags=["studies"])
PICK_HELP = f"Several objectives: which trial to return ({PICK_GRAMMAR})."


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def create_study(spec: StudySpec, service: ServiceDep) -> CreatedStudy:
    """With `client_token: true`, the answer carries the study's client token, once."""
    created = service.studies.create(spec)
    service.dispatch.work.notify()  # claims waiting for work (long-poll) try again now
    return created


@router.get("", dependencies=[Read])
def list_studies(
    service: ServiceDep,
    state: StudyState | None = None,
    comparison_id: Annotated[int | None, Query(ge=1)] = None,
    standalone: bool = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[StudyView]:
    """Newest first. `comparison_id`: only that comparison's studies; `standalone=true`: only
    the studies of no comparison (the index page's list)."""
    return service.studies.list_studies(
        state=state,
        comparison_id=comparison_id,
        standalone=standalone,
        offset=offset,
        limit=limit,
    )


@router.get("/{study_id}", dependencies=[Read])
def get_study(study_id: int, service: ServiceDep) -> StudyView:
    return service.studies.get(study_id)


@router.patch("/{study_id}", dependencies=[Admin])
def update_study(study_id: int, body: StudyPatch, service: ServiceDep) -> StudyView:
    """An action (pause, resume, cancel), a higher n_trials, or the time and quality budgets
    (max_seconds, max_trial_seconds, target: a number sets one, null turns it off)."""
    view = service.studies.update(
        study_id, action=body.action, n_trials=body.n_trials, budget=body.budget_changes()
    )
    service.dispatch.work.notify()  # a resume or more budget: waiting claims try again
    return view


@router.delete("/{study_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[Admin])
def delete_study(study_id: int, service: ServiceDep) -> Response:
    service.studies.delete(study_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{study_id}/trials", dependencies=[Read])
def list_trials(
    study_id: int,
    service: ServiceDep,
    state: TrialState | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TrialPage:
    views, total = service.studies.trials(study_id, state=state, offset=offset, limit=limit)
    return TrialPage(items=views, total=total, offset=offset, limit=limit)


@router.get("/{study_id}/leaderboard", dependencies=[Read])
def leaderboard(
    study_id: int, service: ServiceDep, k: Annotated[int, Query(ge=1, le=1000)] = 10
) -> list[TrialView]:
    return service.studies.leaderboard(study_id, k)


@router.get(
    "/{study_id}/best",
    response_model=BestConfig,
    dependencies=[Read],
    responses={409: {"description": "The study has no completed trial yet: wait for one."}},
)
def best(
    study_id: int,
    service: ServiceDep,
    format: Literal["json", "yaml"] = "json",
    pick: Annotated[str | None, Query(max_length=300, description=PICK_HELP)] = None,
) -> Any:
    best = service.studies.best(study_id, pick)
    if format == "yaml":
        # The training config alone: `hpo train best.yaml --final` takes it as it is.
        text = yaml.safe_dump(best.config, sort_keys=False)
        return Response(text, media_type="application/yaml")
    return best


@router.get("/{study_id}/pareto", dependencies=[Read])
def pareto(study_id: int, service: ServiceDep) -> list[TrialView]:
    """The non-dominated feasible completed trials, sorted by the first objective."""
    return service.studies.pareto(study_id)


@router.get("/{study_id}/hypervolume", dependencies=[Read])
def hypervolume(study_id: int, service: ServiceDep) -> HypervolumeOut:
    """The hypervolume of the feasible completed trials after each one finished."""
    history = service.studies.hypervolume(study_id)
    if history is None:
        return HypervolumeOut(reference=None, numbers=[], hypervolume=[])
    return HypervolumeOut(
        reference=history.reference, numbers=history.numbers, hypervolume=history.hypervolume
    )


@router.post("/{study_id}/trials", dependencies=[Admin])
def enqueue(study_id: int, body: EnqueueBody, service: ServiceDep, response: Response) -> TrialView:
    view, created = service.studies.enqueue(study_id, body.params)
    service.dispatch.work.notify()  # claims waiting for work (long-poll) try again now
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return view
