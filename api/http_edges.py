"""ASGI middlewares on the edge of every request: the request counter behind
`hpo_http_requests_total`, complete `Allow` answers (OPTIONS, 405), and gzip for large
answers off the worker protocol (`GzipOffTheWorkerPath`).

Plain ASGI rather than `BaseHTTPMiddleware`: they see the same scope the router fills in
(`scope["route"]`, the matched route, whose path is the template, e.g.
`/api/v1/studies/{study_id}`), and they add no task or body copy per request.
"""

from __future__ import annotations

from fastapi.routing import iter_route_contexts
from starlette._utils import get_route_path
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Requests no route matched share one label, so scanners cannot grow the series without bound.
UNMATCHED = "unmatched"


class RequestCounter:
    """Counts every HTTP request in the app's `Service.metrics`, by method, route template
    and status (a refused body, a 404 and a failed handler included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees when the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._count(scope, status)

    @staticmethod
    def _count(scope: Scope, status: int) -> None:
        service = getattr(scope["app"].state, "service", None)
        if service is None:
            return  # outside the lifespan (nothing to count into)
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED
        method = str(scope.get("method", "")).upper()
        if method not in _KNOWN_METHODS:
            method = "other"
        labels = (("method", method), ("route", template), ("status", str(status)))
        service.metrics.inc_labeled("hpo_http_requests_total", labels)


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def allowed_methods(app: ASGIApp, scope: Scope) -> list[str]:
    """Every method some route of `app` accepts on this request's path (OPTIONS included
    when any does), sorted; empty when no route has the path."""
    path = get_route_path(scope)
    methods: set[str] = set()
    # Route contexts: included routers' routes with their prefixes applied.
    for route in iter_route_contexts(getattr(scope["app"], "routes", [])):
        regex = getattr(route, "path_regex", None)
        if route.methods and regex is not None and regex.match(path):
            methods |= route.methods
    return sorted(methods | {"OPTIONS"}) if methods else []


class CompleteAllow:
    """OPTIONS on any route answers 204 with the full `Allow` list; a 405 carries the full
    list too. The router alone answers with the methods of the first route whose path
    matches, and one path often has several routes (GET, PATCH, DELETE /studies/{id})."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS":
            methods = allowed_methods(self.app, scope)
            if methods:
                await _answer_options(send, methods)
                return
            await self.app(scope, receive, send)  # no such path: the app's 404
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allow = ", ".join(allowed_methods(self.app, scope)).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow)]}
            await send(message)

        await self.app(scope, receive, send_with_allow)


async def _answer_options(send: Send, methods: list[str]) -> None:
    headers = [(b"allow", ", ".join(methods).encode()), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


# The worker protocol: small JSON answers on the hottest path, never worth compressing.
# Starlette's gzip responder sets up a compressor for every request that accepts gzip, so
# these skip it altogether (measured: bench/dispatch_throughput.py --compare-gzip).
_UNCOMPRESSED_PREFIXES = ("/api/v1/workers/", "/api/v1/trials/")


class GzipOffTheWorkerPath:
    """Starlette's `GZipMiddleware` (bodies from `minimum_size` bytes, to clients that accept
    gzip) for everything but the worker protocol's routes."""

    def __init__(self, app: ASGIApp, minimum_size: int, compresslevel: int = 5) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not get_route_path(scope).startswith(_UNCOMPRESSED_PREFIXES):
            await self.gzip(scope, receive, send)
            return
        await self.app(scope, receive, send)
