"""Request IDs: ``X-Request-ID`` kept when the client (or a proxy) sent a sane one, else made.

    Middleware(RequestIdMiddleware)

The ID is in ``scope["request_id"]`` (``conn.request_id``) for handlers and logs, and echoed in
the response's ``X-Request-ID`` header. APPSEC: an incoming ID is kept only if it is 1-128
characters of letters, digits and ``._~:/+=-``; anything else (spaces, quotes, control
characters, huge values) is replaced, so it is safe to log and to echo.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestIdMiddleware", "new_request_id"]

_SANE = re.compile(rb"[A-Za-z0-9._~:/+=-]{1,128}")


def new_request_id() -> str:
    """32 random hex digits (128 bits)."""
    return os.urandom(16).hex()


class RequestIdMiddleware:
    """Gives every HTTP request and WebSocket an ID.

    Args:
        header_name: the request and response header carrying the ID.
        trust_incoming: keep a sane incoming ID (False: always make a new one, e.g. when
            clients are not trusted to choose what ends up in your logs).
        generator: makes new IDs (``new_request_id`` by default).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header_name: str = "x-request-id",
        trust_incoming: bool = True,
        generator: Callable[[], str] = new_request_id,
    ) -> None:
        self.app = app
        self.header = header_name.lower().encode("latin-1")
        self.trust_incoming = trust_incoming
        self.generator = generator
        self.check_generated = generator is not new_request_id

    def request_id(self, scope: Scope) -> str:
        if self.trust_incoming:
            for name, value in scope["headers"]:
                if name == self.header:
                    if _SANE.fullmatch(value):
                        incoming: str = value.decode("ascii")
                        return incoming
                    break
        request_id = self.generator()
        # The default generator is safe by construction; a custom one is checked.
        if self.check_generated and not _SANE.fullmatch(request_id.encode("latin-1", "replace")):
            raise ValueError(
                f"the request ID generator made {request_id!r}; IDs must be 1-128 characters "
                "of letters, digits and ._~:/+=-"
            )
        return request_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self.request_id(scope)
        scope["request_id"] = request_id
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        echo = (self.header, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if not any(name == echo[0] for name, _ in headers):
                    message["headers"] = [*headers, echo]
            await send(message)

        await self.app(scope, receive, send_with_id)
