"""Domain errors -> HTTP, in one place. Every 4xx body is {"detail": "<what to do>"}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.error_schema import document_errors
from hpo.errors import (
    AuthError,
    ConflictError,
    DatabaseUnavailable,
    HpoError,
    LimitError,
    NotFoundError,
    SpecRejected,
    StorageError,
    TooLargeError,
    UntrainableError,
    ValidationError,
)

log = logging.getLogger("hpo.api")

_STATUS: list[tuple[type[HpoError], int]] = [
    (NotFoundError, 404),
    (TooLargeError, 413),
    (ConflictError, 409),  # LeaseError and AlreadyExistsError included
    (UntrainableError, 422),  # before its parent, ValidationError
    (LimitError, 422),  # before ValidationError, its base
    (SpecRejected, 422),
    (ValidationError, 400),
    (DatabaseUnavailable, 503),
    (StorageError, 500),
]


def status_for(error: HpoError) -> int:
    if isinstance(error, AuthError):
        return 403 if error.forbidden else 401
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 400


def describe_request_errors(error: RequestValidationError) -> str:
    """`body.budget.n_trials: Input should be greater than or equal to 1; ...`"""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item.get("loc", ())) or "request"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        if item.get("type") == "extra_forbidden":
            message = "unknown field: remove it or check its spelling"
        elif item.get("type") == "missing":
            message = "required field is missing"
        # The body's own validator (a check across fields) names its field in the message.
        whole_body = tuple(item.get("loc", ())) == ("body",) and item.get("type") == "value_error"
        parts.append(message if whole_body else f"{where}: {message}")
    return "invalid request: " + "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Map errors to `{"detail": ...}` answers, and declare them in the OpenAPI schema."""
    document_errors(app)

    @app.exception_handler(HpoError)
    async def _domain(_request: Request, error: HpoError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            log.error("%s: %s", type(error).__name__, error)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(error)}, status_code=status, headers=headers)

    @app.exception_handler(OverflowError)
    async def _overflow(_request: Request, error: OverflowError) -> JSONResponse:
        # The schema lets any integer through (ids, offsets); the SQLite driver refuses one
        # beyond 64 bits before the query runs. No row has such an id, and no page starts there.
        detail = "a number in the request is out of range: ids and offsets must be below 2**63"
        return JSONResponse({"detail": detail}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _request(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": describe_request_errors(error)}, status_code=422)
