"""Dependencies: the service from app state, and bearer-token checks, so routes read like prose.

Tokens (shared/DESIGN.md): with `HPO_API_TOKEN` set, every write needs it ("admin"). With
`HPO_WORKER_TOKEN` set, the worker routes (claim, heartbeat, report, complete, fail) accept it
as well; it opens nothing else. Reads need no token. Comparison is constant-time.

The dependencies are `async def` although they wait for nothing: FastAPI runs a plain `def`
dependency in its thread pool, one hand-off per dependency per request (three on a worker
route), which cost more CPU than the dependency itself (measured: bench/dispatch_throughput.py).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from hpo.errors import AuthError
from hpo.service import Service
from hpo.settings import Settings


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


async def require_admin(request: Request, settings: SettingsDep) -> None:
    expected = settings.api_token.get_secret_value() if settings.api_token else None
    worker = settings.worker_token.get_secret_value() if settings.worker_token else None
    given = _bearer(request)
    if given is not None and _matches(given, worker) and not _matches(given, expected):
        # Even with no admin token configured (loopback only, see `hpo serve`): a worker
        # token never opens a study write.
        raise AuthError(
            "a worker token may only claim and report trials; use the admin token for this",
            forbidden=True,
        )
    if expected is None:
        return
    if given is None:
        raise AuthError(
            "this request needs the admin token: send Authorization: Bearer <HPO_API_TOKEN>"
        )
    if _matches(given, expected):
        return
    raise AuthError("wrong token: send Authorization: Bearer <HPO_API_TOKEN>")


async def require_worker(request: Request, settings: SettingsDep) -> None:
    admin = settings.api_token.get_secret_value() if settings.api_token else None
    worker = settings.worker_token.get_secret_value() if settings.worker_token else None
    if admin is None and worker is None:
        return
    given = _bearer(request)
    if given is None:
        raise AuthError(
            "worker requests need a token: send Authorization: Bearer <HPO_WORKER_TOKEN> "
            "(hpo worker --token)"
        )
    if _matches(given, worker) or _matches(given, admin):
        return
    raise AuthError("wrong token: check hpo worker --token / HPO_WORKER_TOKEN")


Admin = Depends(require_admin)
WorkerAuth = Depends(require_worker)
