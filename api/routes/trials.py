"""The worker protocol (claim, heartbeat, report, complete, fail) and ask/tell. Ask, tell,
heartbeat and reports also take the study's client token (api/deps.py).

The worker routes answer with JSON they serialize themselves (`_json`), through the same
pydantic serializer FastAPI would use, so the bytes are the same and the declared
`response_model` still documents them in OpenAPI. What this skips is FastAPI's validation of
the returned value against the model, which for a sync route is one more hand-off to the
thread pool per request: measured on bench/dispatch_throughput.py, a large part of the
server's CPU per request (our views are built by us, not from user input).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from api.deps import Admin, Asker, ServiceDep, SettingsDep, Teller, WorkerAuth, WorkerOrClient
from api.schemas import (
    AskBody,
    ClaimBody,
    CompleteAndClaimBody,
    CompleteAndClaimOut,
    CompleteBody,
    FailBody,
    HeartbeatOut,
    ReportBody,
    ReportOut,
    TellBody,
    TokenBody,
    TrialPatch,
)
from hpo.service import Lease, TrialView
from hpo.service.dispatch.waiting import claim_waiting

router = APIRouter(prefix="/api/v1", tags=["trials"])

_LEASE = TypeAdapter(Lease)
_TRIAL = TypeAdapter(TrialView)
_HEARTBEAT = TypeAdapter(HeartbeatOut)
_REPORT = TypeAdapter(ReportOut)
_COMPLETE_AND_CLAIM = TypeAdapter(CompleteAndClaimOut)


def _json(adapter: TypeAdapter[Any], value: Any, status_code: int = 200) -> Response:
    return Response(adapter.dump_json(value), status_code, media_type="application/json")


@router.post(
    "/workers/claim",
    dependencies=[WorkerAuth],
    response_model=Lease,
    responses={204: {"description": "No work right now (within wait_seconds): claim again"}},
)
async def claim(
    body: ClaimBody,
    service: ServiceDep,
    settings: SettingsDep,
    request: Request,
) -> Any:
    """With `wait_seconds` (clamped to HPO_CLAIM_MAX_WAIT_SECONDS), a claim that finds no
    work is held until a trial can be served or the wait is over (then 204). The wait is an
    await on the event loop (hpo.service.dispatch.waiting), not a thread held; each attempt
    is the same synchronous claim, run in the thread pool."""
    devices, pools = tuple(body.devices), tuple(body.pools)

    def attempt() -> Lease | None:
        return service.dispatch.claim(
            body.worker_id, host=body.host, devices=devices, pools=pools, task_kinds=body.task_kinds
        )

    lease = await claim_waiting(
        attempt,
        service.dispatch.work,
        wait_seconds=min(body.wait_seconds, settings.claim_max_wait_seconds),
        recheck_seconds=settings.claim_recheck_seconds,
        run=run_in_threadpool,
        gone=request.is_disconnected,
    )
    if lease is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return _json(_LEASE, lease)


@router.post(
    "/trials/{trial_id}/heartbeat", dependencies=[WorkerOrClient], response_model=HeartbeatOut
)
def heartbeat(trial_id: int, body: TokenBody, service: ServiceDep) -> Any:
    expires = service.dispatch.heartbeat(trial_id, body.lease_token)
    return _json(_HEARTBEAT, HeartbeatOut(lease_expires_at=expires))


@router.post("/trials/{trial_id}/reports", dependencies=[WorkerOrClient], response_model=ReportOut)
def report(trial_id: int, body: ReportBody, service: ServiceDep) -> Any:
    """One report (`step`, `value`) or a batch (`reports`): with a pruner, `should_prune`
    says whether to stop (a batch is decided report by report); without one, it is false and
    a worker batches (the lease's `sync_reports`)."""
    prune = service.dispatch.reports(trial_id, body.lease_token, body.pairs())
    return _json(_REPORT, ReportOut(should_prune=prune))


@router.post("/trials/{trial_id}/complete", dependencies=[WorkerAuth], response_model=TrialView)
def complete(trial_id: int, body: CompleteBody, service: ServiceDep) -> Any:
    view = service.dispatch.complete(
        trial_id, body.lease_token, body.value, body.metrics, body.report_pairs()
    )
    return _json(_TRIAL, view)


@router.post(
    "/trials/{trial_id}/complete-and-claim",
    dependencies=[WorkerAuth],
    response_model=CompleteAndClaimOut,
)
async def complete_and_claim(
    trial_id: int,
    body: CompleteAndClaimBody,
    service: ServiceDep,
    settings: SettingsDep,
    request: Request,
) -> Any:
    """Complete this trial (with its last `reports`) and claim the worker's next one, in one
    request (a worker that goes on saves a round trip per trial). A retry of one whose answer
    was lost completes nothing twice and hands out the same next trial again. With
    `wait_seconds` (clamped to HPO_CLAIM_MAX_WAIT_SECONDS), the complete is committed first;
    then, if no trial could be served, the claim is held as `POST /workers/claim` holds one,
    and `next` is null only once the wait is over."""
    dispatch = service.dispatch
    devices, pools = tuple(body.devices), tuple(body.pools)
    view, lease, tried_at = await run_in_threadpool(
        lambda: dispatch.complete_and_claim_once(
            trial_id,
            body.lease_token,
            body.value,
            body.metrics,
            body.worker_id,
            host=body.host,
            devices=devices,
            pools=pools,
            task_kinds=body.task_kinds,
            reports=body.report_pairs(),
        )
    )
    wait = min(body.wait_seconds, settings.claim_max_wait_seconds)
    if lease is None and wait > 0:

        def attempt() -> Lease | None:
            return dispatch.claim(
                body.worker_id,
                host=body.host,
                devices=devices,
                pools=pools,
                task_kinds=body.task_kinds,
                completed_trial_id=trial_id,  # bound for a retry, as the first claim was
            )

        lease = await claim_waiting(
            attempt,
            dispatch.work,
            wait_seconds=wait,
            recheck_seconds=settings.claim_recheck_seconds,
            run=run_in_threadpool,
            gone=request.is_disconnected,
            tried_at=tried_at,
        )
    return _json(_COMPLETE_AND_CLAIM, CompleteAndClaimOut(trial=view, next=lease))


@router.post("/trials/{trial_id}/fail", dependencies=[WorkerAuth], response_model=TrialView)
def fail(trial_id: int, body: FailBody, service: ServiceDep) -> Any:
    view = service.dispatch.fail(trial_id, body.lease_token, body.failure_class, body.message)
    return _json(_TRIAL, view)


@router.post("/studies/{study_id}/ask", status_code=status.HTTP_201_CREATED, dependencies=[Asker])
def ask(study_id: int, service: ServiceDep, body: AskBody | None = None) -> Lease:
    lease = service.dispatch.ask(study_id, lease_seconds=body.lease_seconds if body else None)
    return lease


@router.post("/trials/{trial_id}/tell", dependencies=[Teller])
def tell(trial_id: int, body: TellBody, service: ServiceDep) -> TrialView:
    return service.dispatch.tell(
        trial_id,
        body.lease_token,
        body.state,
        value=body.value,
        metrics=body.metrics,
        failure_class=body.failure_class,
        message=body.message,
    )


@router.patch("/trials/{trial_id}", dependencies=[Admin])
def annotate_trial(trial_id: int, body: TrialPatch, service: ServiceDep) -> TrialView:
    """Set a trial's note and tags (a field left out is unchanged; null or "" clears the
    note, [] the tags)."""
    return service.notes.annotate(
        trial_id, note=body.note, tags=body.tags, set_note="note" in body.model_fields_set
    )
