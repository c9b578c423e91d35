"""Dependencies: the service from app state, and bearer-token checks, so routes read like prose.

Scopes (README, Authentication):
- admin (`HPO_API_TOKEN`): everything. Without it, writes are open (loopback only).
- worker (`HPO_WORKER_TOKEN`): the worker routes (claim, heartbeat, report, complete, fail);
  it never reads studies or trials, so a worker sees no other worker's ids or failures.
- read (`HPO_READ_TOKEN`): the reads, nothing else.
- a study's client token (made at creation with `client_token: true`): ask, tell, report and
  heartbeat for that study only.
With any token configured, reads need the read or admin token unless `public_read`; with none,
reads stay open as before. Comparison is constant-time.

The dependencies are `async def` although most wait for nothing: FastAPI runs a plain `def`
dependency in its thread pool, one hand-off per dependency per request (three on a worker
route), which cost more CPU than the dependency itself (measured: bench/dispatch_throughput.py).
Only a token that looks like a client token (`hpoc_`) and matches no configured token costs a
database lookup, on the thread pool; admin, worker and read tokens never do.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from hpo.errors import AuthError
from hpo.service import Service
from hpo.service.client_tokens import PREFIX, ClientTokenScope
from hpo.service.tokens import same_secret
from hpo.settings import Settings


async def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

Kind = Literal["admin", "worker", "read"]

_ADMIN_WRONG = "wrong token: send Authorization: Bearer <HPO_API_TOKEN>"
_READ_ONLY = "the read token can only read; use the admin token for this"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _matches(given: str, expected: str | None) -> bool:
    return same_secret(expected, given)  # on bytes: any header byte compares, none fails


def _kind(given: str | None, settings: Settings) -> Kind | None:
    """Which configured token `given` is; admin first, so a token set for two scopes gets the
    wider one."""
    if given is None:
        return None
    if settings.api_token is not None and _matches(given, settings.api_token.get_secret_value()):
        return "admin"
    if settings.worker_token is not None and _matches(
        given, settings.worker_token.get_secret_value()
    ):
        return "worker"
    if settings.read_token is not None and _matches(given, settings.read_token.get_secret_value()):
        return "read"
    return None


async def _client_scope(
    request: Request, given: str, trial_id: int | None = None
) -> ClientTokenScope | None:
    if not given.startswith(PREFIX):
        return None  # not shaped like a client token: no database lookup
    service: Service = request.app.state.service
    return await run_in_threadpool(service.client_tokens.scope, given, trial_id)


async def _client_may(
    request: Request, given: str, *, study_id: int | None = None, trial_id: int | None = None
) -> bool:
    """True when `given` is the client token of `study_id` (or of `trial_id`'s study); False
    when it is no client token; 403 when it is another study's."""
    scope = await _client_scope(request, given, trial_id)
    if scope is None:
        return False
    target = study_id if study_id is not None else scope.trial_study_id
    if target is None or target == scope.study_id:
        return True  # an unknown trial: the route answers its 404
    what = f"study {target}" if study_id is not None else f"trial {trial_id} is in study {target}"
    raise AuthError(
        f"this is study {scope.study_id}'s client token and {what}: use that study's client "
        "token (or the admin token)",
        forbidden=True,
    )


def _client_elsewhere(scope: ClientTokenScope, allowed: str) -> AuthError:
    return AuthError(
        f"this is study {scope.study_id}'s client token: it can only ask, tell, report and "
        f"heartbeat for that study; {allowed}",
        forbidden=True,
    )


async def require_read(request: Request, settings: SettingsDep) -> None:
    if not settings.reads_need_a_token:
        return
    given = _bearer(request)
    if given is None:
        raise AuthError(
            "reads on this server need a token: send Authorization: Bearer <HPO_READ_TOKEN> (or "
            "the admin token); the web pages ask for it"
        )
    kind = _kind(given, settings)
    if kind in ("admin", "read"):
        return
    if kind == "worker":
        raise AuthError(
            "a worker token cannot read studies or trials (a worker sees its own trials through "
            "the worker routes): use HPO_READ_TOKEN or the admin token",
            forbidden=True,
        )
    scope = await _client_scope(request, given)
    if scope is not None:
        raise _client_elsewhere(scope, "reads need HPO_READ_TOKEN or the admin token")
    raise AuthError("wrong token: reads take HPO_READ_TOKEN or the admin token")


async def _refuse_non_admin(request: Request, settings: Settings, given: str | None) -> None:
    kind = _kind(given, settings)
    if kind == "admin":
        return
    # Even with no admin token configured (loopback only, see `hpo serve`): a worker or read
    # token never opens a study write.
    if kind == "worker":
        raise AuthError(
            "a worker token may only claim and report trials; use the admin token for this",
            forbidden=True,
        )
    if kind == "read":
        raise AuthError(_READ_ONLY, forbidden=True)
    if settings.api_token is None:
        return
    if given is None:
        raise AuthError(
            "this request needs the admin token: send Authorization: Bearer <HPO_API_TOKEN>"
        )
    scope = await _client_scope(request, given)
    if scope is not None:
        raise _client_elsewhere(scope, "use the admin token for this")
    raise AuthError(_ADMIN_WRONG)


async def require_admin(request: Request, settings: SettingsDep) -> None:
    await _refuse_non_admin(request, settings, _bearer(request))


async def _refuse_non_worker(
    request: Request, settings: Settings, given: str | None, kind: Kind | None
) -> None:
    """The worker routes' check once the caller is known not to be admin or worker."""
    if kind == "read":
        raise AuthError(_READ_ONLY, forbidden=True)
    if settings.api_token is None and settings.worker_token is None:
        return
    if given is None:
        raise AuthError(
            "worker requests need a token: send Authorization: Bearer <HPO_WORKER_TOKEN> "
            "(hpo worker --token)"
        )
    scope = await _client_scope(request, given)
    if scope is not None:
        raise _client_elsewhere(scope, "claims and completes take the worker token")
    raise AuthError("wrong token: check hpo worker --token / HPO_WORKER_TOKEN")


def _is_worker(given: str | None, settings: Settings) -> bool:
    # The worker routes' common case first: one comparison for a worker's request.
    worker = settings.worker_token
    return given is not None and worker is not None and _matches(given, worker.get_secret_value())


async def require_worker(request: Request, settings: SettingsDep) -> None:
    given = _bearer(request)
    if _is_worker(given, settings):
        return
    kind = _kind(given, settings)
    if kind in ("worker", "admin"):
        return
    await _refuse_non_worker(request, settings, given, kind)


def _path_id(request: Request, name: str) -> int | None:
    # Read here, only for a client token, rather than declared as a parameter: a declared one
    # is validated on every worker heartbeat and report. Not a number: the route's own
    # validation answers 422.
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        return None


async def require_worker_or_client(request: Request, settings: SettingsDep) -> None:
    """Heartbeat and reports: a worker, or the client token of the trial's study."""
    given = _bearer(request)
    if _is_worker(given, settings):
        return
    kind = _kind(given, settings)
    if kind in ("worker", "admin"):
        return
    trial_id = _path_id(request, "trial_id")
    if given is not None and kind is None and await _client_may(request, given, trial_id=trial_id):
        return
    await _refuse_non_worker(request, settings, given, kind)


async def require_asker(request: Request, settings: SettingsDep) -> None:
    """Ask: the admin, or this study's client token."""
    given = _bearer(request)
    study_id = _path_id(request, "study_id")
    client = given is not None and study_id is not None and _kind(given, settings) is None
    if client and given is not None and await _client_may(request, given, study_id=study_id):
        return
    await _refuse_non_admin(request, settings, given)


async def require_teller(request: Request, settings: SettingsDep) -> None:
    """Tell: the admin, or the client token of the trial's study."""
    given = _bearer(request)
    trial_id = _path_id(request, "trial_id")
    client = given is not None and trial_id is not None and _kind(given, settings) is None
    if client and given is not None and await _client_may(request, given, trial_id=trial_id):
        return
    await _refuse_non_admin(request, settings, given)


LEASE_HEADER = "x-hpo-lease-token"


async def require_read_or_lease(request: Request, settings: SettingsDep) -> None:
    """Artifact reads: the read or admin token, or a worker with the trial's lease token in
    `X-Hpo-Lease-Token` (a requeued attempt restoring its checkpoint; the route checks the
    lease)."""
    if _kind(_bearer(request), settings) == "worker" and request.headers.get(LEASE_HEADER):
        return
    await require_read(request, settings)


Admin = Depends(require_admin)
WorkerAuth = Depends(require_worker)
Read = Depends(require_read)
WorkerOrClient = Depends(require_worker_or_client)
Asker = Depends(require_asker)
Teller = Depends(require_teller)
ReadOrLease = Depends(require_read_or_lease)

TOKEN_CHECKS = frozenset(
    {
        require_admin,
        require_worker,
        require_read,
        require_worker_or_client,
        require_asker,
        require_teller,
        require_read_or_lease,
    }
)
