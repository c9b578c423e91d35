"""The OpenAPI schema tells the truth about errors.

Every 4xx this API sends is `{"detail": "<what is wrong and what to do>"}` (see `errors.py`),
but FastAPI documents 422 as its own list-of-errors shape and leaves the other codes out. This
rewrites the generated schema once, for every route (the ones added later included): the
error statuses an operation can answer, each with `ErrorBody`; 401/403 and the bearer scheme on
the operations that check a token. Clients generated from the schema and schema fuzzers
(tests/fuzz) then see what the server really does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field

from api.deps import TOKEN_CHECKS

_REF = "#/components/schemas/ErrorBody"
_WHY = {
    400: "Invalid input (the message says which field and what is allowed).",
    401: "Missing or wrong bearer token.",
    403: "A token without this right (worker, read or another study's client token).",
    404: "No such study, trial or comparison.",
    409: "Conflicts with the current state: a stale lease, a finished trial, a full study.",
    413: "Request body larger than HPO_MAX_REQUEST_BYTES.",
    422: "The request does not match the schema, or goes beyond a server limit (the message "
    "names each bad field and the limit).",
    503: "The database is unavailable or busy: retry shortly.",
}


class ErrorBody(BaseModel):
    detail: str = Field(description="What is wrong and what to do about it.")


def document_errors(app: FastAPI) -> None:
    """Wrap `app.openapi` so the generated schema declares our error bodies."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI caches it until the routes change
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        if "ErrorBody" not in components:
            _rewrite(schema, _protected_operations(app))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _protected_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every route that depends on a token check."""
    checks = TOKEN_CHECKS
    protected = set()
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if dependant is None:
            continue
        stack, found = list(dependant.dependencies), False
        while stack and not found:
            dep = stack.pop()
            found = dep.call in checks
            stack.extend(dep.dependencies)
        if found:
            for method in context.methods or ():
                protected.add((context.path_format or context.path or "", method.lower()))
    return protected


def _rewrite(schema: dict[str, Any], protected: set[tuple[str, str]]) -> None:
    components = schema["components"]
    components["schemas"]["ErrorBody"] = ErrorBody.model_json_schema()
    components["schemas"].pop("HTTPValidationError", None)
    components["schemas"].pop("ValidationError", None)
    if protected:
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "HPO_API_TOKEN (admin); HPO_READ_TOKEN on reads; HPO_WORKER_TOKEN on "
            "the worker routes; a study's client token on its ask, tell, heartbeat, reports.",
        }
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            # A read that can conflict says so on its route (`responses={409: ...}`, e.g.
            # GET /best before any trial completed); its own description is kept.
            declared = {int(c) for c in responses if c.isdigit() and int(c) >= 400}
            codes = {400, 404, 413, 422, 503} | declared
            if method != "get":
                codes.add(409)
            if (path, method) in protected:
                codes |= {401, 403}
                operation["security"] = [{"bearer": []}]
            for code in sorted(codes):
                own = responses.get(str(code), {}).get("description")
                responses[str(code)] = {
                    "description": own if code in declared and own else _WHY[code],
                    "content": {"application/json": {"schema": {"$ref": _REF}}},
                }
