"""/api/v1/trials/{id}/logs and /api/v1/trials/{id}/artifacts: what a trial's attempts
printed, and the files they left (checkpoints, outputs, weights).

Writes take the lease token of the trial's current attempt (a log chunk in its JSON body,
an artifact upload in the `X-Hpo-Lease-Token` header, as the body is the file itself). An
upload streams to a spooled temporary file (in memory while small), held to the artifact
limit as it arrives, then to the store in the thread pool: the event loop never waits on a
disk, and a refused upload never reaches the store.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import LEASE_HEADER, Read, ReadOrLease, ServiceDep, SettingsDep, WorkerOrClient
from api.schemas import TokenBody
from hpo.errors import TooLargeError, ValidationError
from hpo.service.dispatch.leases import LEASE_TOKEN_PATTERN

router = APIRouter(prefix="/api/v1/trials", tags=["logs and artifacts"])

# The paths whose bodies BodySizeLimit leaves to the route (api/app.py).
UPLOAD_PATH = re.compile(r"^/api/v1/trials/[^/]+/artifacts/")

_SPOOL_BYTES = 8 << 20  # an upload stays in memory up to this, then goes to a temporary file
_LeaseHeader = Annotated[
    str | None,
    Header(alias=LEASE_HEADER, max_length=128, pattern=LEASE_TOKEN_PATTERN),
]


class LogChunk(TokenBody):
    # Whole lines, as the worker batches them; the request body limit bounds one chunk.
    text: str = Field(max_length=4 << 20)


class LogAppended(BaseModel):
    end: int  # the log's byte offset after this chunk


class ArtifactOut(BaseModel):
    name: str
    size: int
    modified_at: float


@router.post("/{trial_id}/logs", dependencies=[WorkerOrClient])
def append_log(trial_id: int, body: LogChunk, service: ServiceDep) -> LogAppended:
    return LogAppended(end=service.logs.append(trial_id, body.lease_token, body.text))


@router.get("/{trial_id}/logs", response_class=PlainTextResponse, dependencies=[Read])
def read_log(
    trial_id: int,
    service: ServiceDep,
    attempt: Annotated[int | None, Query(ge=1)] = None,
    tail: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    since: Annotated[int, Query(ge=0, le=2**53)] = 0,
) -> PlainTextResponse:
    """The attempt's log as text (default: the latest attempt that logged). `tail`: its last
    lines only; `since`: from that byte offset on (what `X-Hpo-Log-End` said last time).
    Headers: `X-Hpo-Log-End`, `X-Hpo-Log-Attempt`, `X-Hpo-Log-Attempts` (comma-separated),
    `X-Hpo-Trial-State`."""
    log = service.logs.read(trial_id, attempt=attempt, tail=tail, since=since)
    headers = {
        "X-Hpo-Log-End": str(log.end),
        "X-Hpo-Log-Attempt": str(log.attempt),
        "X-Hpo-Log-Attempts": ",".join(str(a) for a in log.attempts),
        "X-Hpo-Trial-State": log.state,
    }
    return PlainTextResponse(log.text, headers=headers)


@router.get("/{trial_id}/artifacts", dependencies=[ReadOrLease])
def list_artifacts(
    trial_id: int,
    service: ServiceDep,
    prefix: Annotated[str, Query(max_length=1000)] = "",
    lease_token: _LeaseHeader = None,
) -> list[ArtifactOut]:
    infos = service.artifacts.list(trial_id, prefix, token=lease_token)
    return [ArtifactOut(name=i.name, size=i.size, modified_at=i.modified_at) for i in infos]


@router.get(
    "/{trial_id}/artifacts/{name:path}",
    response_class=StreamingResponse,
    dependencies=[ReadOrLease],
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def read_artifact(
    trial_id: int, name: str, service: ServiceDep, lease_token: _LeaseHeader = None
) -> StreamingResponse:
    chunks = service.artifacts.read(trial_id, name, token=lease_token)
    return StreamingResponse(chunks, media_type="application/octet-stream")


@router.put("/{trial_id}/artifacts/{name:path}", dependencies=[WorkerOrClient])
async def put_artifact(
    trial_id: int,
    name: str,
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    lease_token: _LeaseHeader = None,
) -> ArtifactOut:
    """Store the body as the trial's artifact `name` (replacing one of that name)."""
    if lease_token is None:
        raise ValidationError(
            "an artifact upload needs the trial's lease token: send X-Hpo-Lease-Token"
        )
    limit = settings.max_artifact_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(name, limit)
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise _too_large(name, limit)
            await run_in_threadpool(spool.write, chunk)
        spool.seek(0)
        info = await run_in_threadpool(
            service.artifacts.put, trial_id, lease_token, name, _read_chunks(spool)
        )
    return ArtifactOut(name=info.name, size=info.size, modified_at=info.modified_at)


def _read_chunks(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(1 << 20):
        yield chunk


def _too_large(name: str, limit: int) -> TooLargeError:
    return TooLargeError(
        f"artifact {name[:200]!r} is larger than {limit} bytes, the limit per artifact "
        "(HPO_MAX_ARTIFACT_BYTES on the server): keep fewer or smaller files"
    )
