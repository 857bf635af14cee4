"""Signed cookie sessions: ``conn.session`` is a dict kept in an HMAC-signed cookie.

    aaf([router], middleware=[Middleware(SessionMiddleware, secret_key=["new-key", "old-key"])])

The cookie holds ``base64url(JSON).timestamp.signature`` (HMAC-SHA256): readable by the client,
not changeable by it. Put no secrets in a session; put nothing big in it (browsers drop cookies
over 4 KiB). A cookie that is tampered with, signed with an unknown key, expired or malformed is
ignored (the session starts empty and the bad cookie is cleared) - never an error.

Key rotation: ``secret_key`` may be a list, newest first. The newest key signs; every key
verifies; a session signed with an older key is re-signed with the newest on the next response.

``Secure``: by default (``secure=None``) the cookie is ``Secure`` when the request came over
https, so http://localhost works while developing. Behind a TLS-terminating proxy the app sees
http unless ``ProxyHeadersMiddleware`` tells it otherwise: in production pass ``secure=True``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import _json
from ..cookies import SameSite, build_set_cookie, parse_cookie_header
from ._common import derive_keys

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SessionMiddleware"]

logger = logging.getLogger("aaf.sessions")

_MAX_COOKIE = 8192  # longer cookies are not even looked at
_BROWSER_LIMIT = 4096
_CLOCK_SKEW = 60  # seconds a timestamp may lie in the future (another worker's clock)


def _now() -> int:
    return int(time.time())


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class _Loaded:
    """What the request's cookie held: the payload bytes, its age, whether it needs re-signing."""

    __slots__ = ("payload", "present", "stale", "timestamp")

    def __init__(self) -> None:
        self.present = False  # a session cookie came (valid or not)
        self.payload = b""  # the valid cookie's payload part, as sent
        self.timestamp = 0
        self.stale = False  # signed with an older key


class SessionMiddleware:
    """Loads ``scope["session"]`` (``conn.session``) from a signed cookie and saves changes.

    Args:
        secret_key: a secret of at least 16 bytes, or a list of them, newest first.
        cookie_name: the cookie's name.
        max_age: seconds a session lives after it was last saved (the cookie's ``Max-Age``
            and the signature's expiry); ``None`` for a browser-session cookie that the server
            does not expire. Active sessions are re-saved once half of it has passed.
        secure: ``True``/``False`` for the ``Secure`` attribute; ``None`` (the default) sets it
            on https requests only. APPSEC: pass ``secure=True`` in production, so the session
            never travels over plain http even when a proxy hides the scheme.
        path, domain, httponly, samesite: the cookie's attributes.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        cookie_name: str = "session",
        max_age: int | None = 14 * 24 * 3600,
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: SameSite | None = "lax",
    ) -> None:
        self.app = app
        self.keys = derive_keys(secret_key, b"aaf.sessions.v1", "SessionMiddleware")
        if max_age is not None and max_age <= 0:
            raise ValueError("max_age must be a positive number of seconds, or None")
        self.cookie_name = cookie_name
        self.cookie_key = cookie_name.encode("latin-1")
        self.max_age = max_age
        self.secure = secure
        self.cookie_options: dict[str, Any] = {
            "path": path,
            "domain": domain,
            "httponly": httponly,
            "samesite": samesite,
        }
        # Per value of the Secure attribute (both are used when it follows the scheme).
        self.delete_cookies: dict[bool, bytes] = {}
        for flag in (False, True) if secure is None else (secure,):
            # Fail at start-up, not on the first response, if the attributes are unusable.
            build_set_cookie(cookie_name, "x", max_age=max_age, secure=flag, **self.cookie_options)
            self.delete_cookies[flag] = build_set_cookie(
                cookie_name, "", max_age=0, expires=0, secure=flag, **self.cookie_options
            ).encode("latin-1")

    # -- signing ----------------------------------------------------------------
    def _signature(self, key: bytes, signed: bytes) -> bytes:
        return _b64encode(hmac.new(key, signed, hashlib.sha256).digest())

    def sign(self, payload: bytes, timestamp: int) -> str:
        signed = payload + b".%d" % timestamp
        return (signed + b"." + self._signature(self.keys[0], signed)).decode("ascii")

    def unsign(self, value: bytes, loaded: _Loaded, now: int) -> dict[str, Any] | None:
        """The session data in a cookie value, or None if the value is not to be trusted."""
        signed, _, signature = value.rpartition(b".")
        payload, _, stamp = signed.partition(b".")
        if not payload or not stamp.isdigit() or len(stamp) > 12:
            return None
        for index, key in enumerate(self.keys):
            if hmac.compare_digest(self._signature(key, signed), signature):
                loaded.stale = index > 0
                break
        else:
            return None
        timestamp = int(stamp)
        if timestamp > now + _CLOCK_SKEW:
            return None
        if self.max_age is not None and now - timestamp > self.max_age:
            return None
        try:
            data = _json.decode(_b64decode(payload))
        except (binascii.Error, ValueError, _json.DecodeError):
            return None
        if not isinstance(data, dict):
            return None
        loaded.payload = payload
        loaded.timestamp = timestamp
        return data

    def load(self, scope: Scope, loaded: _Loaded) -> dict[str, Any]:
        cookie_name = self.cookie_key
        for name, value in scope["headers"]:
            # PERF: parse the Cookie header only when our cookie name is in it.
            if name != b"cookie" or cookie_name not in value or len(value) > _MAX_COOKIE:
                continue
            cookie = parse_cookie_header(value.decode("latin-1")).get(self.cookie_name)
            if cookie is None:
                continue
            loaded.present = True
            data = self.unsign(cookie.encode("latin-1"), loaded, _now())
            if data is None:
                logger.debug("ignored a session cookie that failed verification")
                return {}
            return data
        return {}

    def set_cookie_header(
        self, session: dict[str, Any], loaded: _Loaded, secure: bool
    ) -> bytes | None:
        """The Set-Cookie value this response needs, or None."""
        if not session:
            return self.delete_cookies[secure] if loaded.present else None
        payload = _b64encode(_json.encode(session))
        now = _now()
        fresh = self.max_age is None or now - loaded.timestamp < self.max_age // 2
        if payload == loaded.payload and not loaded.stale and fresh:
            return None  # unchanged: the browser's cookie is still right
        value = self.sign(payload, now)
        if len(value) + len(self.cookie_name) + 1 > _BROWSER_LIMIT:
            logger.warning(
                "the session cookie is %d bytes; browsers drop cookies over %d bytes. "
                "Keep only small values (ids) in conn.session.",
                len(value),
                _BROWSER_LIMIT,
            )
        cookie = build_set_cookie(
            self.cookie_name, value, max_age=self.max_age, secure=secure, **self.cookie_options
        )
        return cookie.encode("latin-1")

    # -- the ASGI app ---------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        loaded = _Loaded()
        scope["session"] = self.load(scope, loaded)
        if kind == "websocket":
            await self.app(scope, receive, send)  # read-only: a WebSocket cannot set cookies
            return

        secure = self.secure if self.secure is not None else scope.get("scheme") == "https"

        async def send_with_session(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = self.set_cookie_header(scope["session"], loaded, secure)
                if cookie is not None:
                    message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_with_session)
