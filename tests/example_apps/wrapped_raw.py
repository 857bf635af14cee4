"""The raw apps mounted in an aaf app wrapped by a plain ASGI middleware (defined here).

Importable by the tests and, as ``tests.example_apps.wrapped_raw:app``, by a real server.
"""

from __future__ import annotations

from examples.raw import mounted

from aaf import Middleware, aaf
from aaf._types import ASGIApp, Message, Receive, Scope, Send

HEADER = (b"x-wrapped-by", b"test-middleware")


class TraceMiddleware:
    """Adds a response header and counts the disconnects it passes on to the app."""

    disconnects = 0

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def traced_receive() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                TraceMiddleware.disconnects += 1
            return message

        async def traced_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), HEADER]}
            await send(message)

        await self.app(scope, traced_receive, traced_send)


app = aaf([mounted.router], middleware=[Middleware(TraceMiddleware)])
