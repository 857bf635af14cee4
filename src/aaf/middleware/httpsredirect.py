"""Redirect plain-HTTP requests to HTTPS (same host, path and query).

    Middleware(HTTPSRedirectMiddleware)

Behind a TLS-terminating proxy, put ``ProxyHeadersMiddleware`` before this one so the scheme
the client used (``X-Forwarded-Proto``) is known. A plain ``ws://`` WebSocket is closed with
1008 (a WebSocket handshake cannot follow a redirect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..connection import Connection
from ..response import RedirectResponse
from ._common import refuse_websocket

if TYPE_CHECKING:
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["HTTPSRedirectMiddleware"]


class HTTPSRedirectMiddleware:
    """Answers every ``http`` request with a redirect to its ``https`` URL (308 by default)."""

    def __init__(self, app: ASGIApp, *, status_code: int = 308) -> None:
        if status_code not in (301, 302, 307, 308):
            raise ValueError(f"status_code must be 301, 302, 307 or 308, not {status_code}")
        self.app = app
        self.status_code = status_code

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        # The ASGI spec makes "scheme" optional, defaulting to "http" ("ws" for WebSockets):
        # a server that leaves it out is serving plain text, so the redirect must still happen.
        scheme = scope.get("scheme") or ("ws" if kind == "websocket" else "http")
        if kind == "http" and scheme == "http":
            location = https_url(Connection(scope, receive, send))
            await RedirectResponse(location, self.status_code)(scope, receive, send)
        elif kind == "websocket" and scheme == "ws":
            await refuse_websocket(receive, send, "use wss://")
        else:
            await self.app(scope, receive, send)


def https_url(conn: Connection) -> str:
    """The request's URL with https (the Host header counts only if it is a plain host[:port])."""
    url = conn.url
    netloc = url.netloc
    host, colon, port = netloc.rpartition(":")
    if colon and port == "80":
        netloc = host  # the default http port means the default https port
    return str(url.replace(scheme="https", netloc=netloc))
