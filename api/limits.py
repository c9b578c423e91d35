"""A request-body size limit as plain ASGI middleware: refuses with 413 before the body is
parsed, whether the client sent Content-Length or streamed chunks."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: re.Pattern[str] | None = None) -> None:
        """`exempt`: paths whose bodies the route streams and limits itself (artifacts)."""
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exempt = self.exempt is not None and self.exempt.match(scope.get("path", ""))
        if scope["type"] != "http" or exempt:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit():
            # The server (h11) holds the body to its declared length.
            if int(declared) > self.max_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body up to the limit before the app sees it.
        # Raising from inside the app's receive instead would reach FastAPI's body parsing,
        # which answers such errors with a generic 400.
        buffered: list[Message] = []
        received = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break  # the client went away; the app sees the disconnect
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(buffered)

        async def replay_receive() -> Message:
            for message in replay:
                return message
            return await receive()

        await self.app(scope, replay_receive, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body larger than {self.max_bytes} bytes (HPO_MAX_REQUEST_BYTES)"}
        ).encode()
        headers: list[Any] = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
