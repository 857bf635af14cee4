"""What every credential middleware but JWT's shares: find the credentials, set ``scope["user"]``,
refuse with 401 and ``WWW-Authenticate`` (HTTP) or before the handshake (WebSocket).

A subclass writes one method, ``identify(scope)``:

- ``None``: the request carries no credentials of this scheme. The user another authentication
  middleware already set is kept (so schemes stack); otherwise ``conn.user`` is None, and with
  ``required=True`` the request is refused (401).
- a ``str``: credentials were sent and are wrong; the request is refused (401) with that reason.
- an ``AuthUser``: ``conn.user``.

``JWTAuthMiddleware`` keeps its own loop (its WebSocket subprotocol handling and its exact
answers predate this base); it sets the same ``conn.user``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _json
from ..datastructures import AuthUser
from ._common import send_text
from .auth import CHALLENGE_SCOPE_KEY

if TYPE_CHECKING:
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["AUTHENTICATION_REQUIRED", "AuthSchemeMiddleware", "check_quoted"]

AUTHENTICATION_REQUIRED = "authentication required"
_DENIAL_EXTENSION = "websocket.http.response"
_JSON = b"application/json"


def check_quoted(what: str, value: str) -> str:
    """``value`` if it can stand inside a quoted header parameter, else a ValueError."""
    if any(char in '"\\' or ord(char) < 0x20 or ord(char) > 0x7E for char in value):
        raise ValueError(f"{what} must be printable ASCII without quotes or backslashes")
    return value


class AuthSchemeMiddleware:
    """The loop around ``identify``; subclasses set ``challenge`` and ``security_scheme``.

    Attributes:
        challenge: the ``WWW-Authenticate`` value of this scheme's 401 answers (also what
            ``requires()`` sends when it refuses an anonymous request behind this middleware).
        security_scheme: an OpenAPI 3.1 Security Scheme Object describing the scheme, for a
            future OpenAPI document to collect (nothing reads it yet).
        required: refuse requests without credentials (401) instead of letting them through
            anonymous.
    """

    challenge: str = ""
    security_scheme: dict[str, Any]

    def __init__(self, app: ASGIApp, *, required: bool = False) -> None:
        self.app = app
        self.required = required
        self.security_scheme = {}

    async def identify(self, scope: Scope) -> AuthUser | str | None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        found = await self.identify(scope)
        if found is None:
            if scope.get("user") is None:
                if self.required:
                    await self.refuse(scope, receive, send, AUTHENTICATION_REQUIRED)
                    return
                scope["user"] = None
        elif isinstance(found, str):
            await self.refuse(scope, receive, send, found)
            return
        else:
            scope["user"] = found
        # The first (outermost) scheme names the challenge requires() answers with.
        scope.setdefault(CHALLENGE_SCOPE_KEY, self.challenge)
        await self.app(scope, receive, send)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        headers = [(b"www-authenticate", self.challenge.encode("latin-1"))]
        body = _json.encode({"error": reason})
        if scope["type"] == "http":
            await send_text(send, 401, body, headers, _JSON)
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return  # the client left before the handshake: nobody to answer
        if _DENIAL_EXTENSION in (scope.get("extensions") or {}):
            # The same 401 an HTTP request gets, where the server can send one.
            start = [
                (b"content-type", _JSON),
                (b"content-length", b"%d" % len(body)),
                *headers,
            ]
            await send({"type": "websocket.http.response.start", "status": 401, "headers": start})
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # the server answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
