"""The worker protocol (claim, heartbeat, report, complete, fail) and ask/tell."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from api.deps import Admin, ServiceDep, WorkerAuth
from api.schemas import (
    AskBody,
    ClaimBody,
    CompleteBody,
    FailBody,
    HeartbeatOut,
    ReportBody,
    ReportOut,
    TellBody,
    TokenBody,
)
from hpo.errors import ValidationError
from hpo.service import Lease, TrialView

router = APIRouter(prefix="/api/v1", tags=["trials"])


@router.post(
    "/workers/claim",
    dependencies=[WorkerAuth],
    response_model=Lease,
    responses={204: {"description": "No work right now: poll again later"}},
)
def claim(body: ClaimBody, service: ServiceDep) -> Any:
    lease = service.dispatch.claim(body.worker_id, host=body.host, devices=tuple(body.devices))
    if lease is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return lease


@router.post("/trials/{trial_id}/heartbeat", dependencies=[WorkerAuth])
def heartbeat(trial_id: int, body: TokenBody, service: ServiceDep) -> HeartbeatOut:
    return HeartbeatOut(lease_expires_at=service.dispatch.heartbeat(trial_id, body.lease_token))


@router.post("/trials/{trial_id}/reports", dependencies=[WorkerAuth])
def report(trial_id: int, body: ReportBody, service: ServiceDep) -> ReportOut:
    prune = service.dispatch.report(trial_id, body.lease_token, body.step, body.value)
    return ReportOut(should_prune=prune)


@router.post("/trials/{trial_id}/complete", dependencies=[WorkerAuth])
def complete(trial_id: int, body: CompleteBody, service: ServiceDep) -> TrialView:
    view = service.dispatch.complete(trial_id, body.lease_token, body.value, body.metrics)
    return view


@router.post("/trials/{trial_id}/fail", dependencies=[WorkerAuth])
def fail(trial_id: int, body: FailBody, service: ServiceDep) -> TrialView:
    view = service.dispatch.fail(trial_id, body.lease_token, body.failure_class, body.message)
    return view


@router.post("/studies/{study_id}/ask", status_code=status.HTTP_201_CREATED, dependencies=[Admin])
def ask(study_id: int, service: ServiceDep, body: AskBody | None = None) -> Lease:
    lease = service.dispatch.ask(study_id, lease_seconds=body.lease_seconds if body else None)
    return lease


@router.post("/trials/{trial_id}/tell", dependencies=[Admin])
def tell(trial_id: int, body: TellBody, service: ServiceDep) -> TrialView:
    if body.state == "completed":
        if body.value is None:
            raise ValidationError("tell needs a value when state is completed (or state: failed)")
        view = service.dispatch.complete(trial_id, body.lease_token, body.value, body.metrics)
    else:
        view = service.dispatch.fail(trial_id, body.lease_token, body.failure_class, body.message)
    return view
