"""CORS (Cross-Origin Resource Sharing), per the Fetch standard's CORS protocol.

    aaf([router], middleware=[Middleware(CORSMiddleware, allow_origins=["https://app.example"])])

Preflight requests (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are
answered here and never reach a handler. Other requests pass through; their responses get the
``Access-Control-*`` headers when the origin is allowed, and ``Vary: Origin`` whenever the
answer depends on the origin, so a shared cache never hands one origin's answer to another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._http import is_token
from ._common import send_text, with_vary

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

__all__ = ["CORSMiddleware"]

# Request headers a browser may send cross-origin without asking (Fetch: CORS-safelisted).
_SAFELISTED = frozenset({"accept", "accept-language", "content-language", "content-type"})
_VARY = b"Origin"
# Origins no site owns (RFC 2606 .invalid, and the opaque "null" of sandboxed frames and
# file: pages): a regex that lets one of them in lets in every site.
_NOBODYS_ORIGINS = (
    "https://attacker.invalid",
    "http://attacker.invalid",
    "https://attacker.invalid:8443",
    "null",
)


class CORSMiddleware:
    """Answers preflights and adds CORS headers to responses for allowed origins.

    Args:
        allow_origins: exact origins (``"https://app.example"``), or ``["*"]`` for any origin.
        allow_origin_regex: origins matching this regular expression (whole match) are allowed;
            with credentials, a regex that matches an origin of no site (such as
            ``https://attacker.invalid`` or ``null``) is refused like ``"*"``.
        allow_methods: methods a preflight may ask for, or ``["*"]``.
        allow_headers: request headers a preflight may ask for, or ``["*"]``; the CORS-safelisted
            ones are always allowed.
        allow_credentials: allow cookies and ``Authorization``; refused together with ``"*"``
            origins, because that would let every site act as the logged-in user.
        expose_headers: response headers the browser lets scripts read.
        max_age: seconds a browser may cache a preflight answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Iterable[str] = (),
        allow_origin_regex: str | None = None,
        allow_methods: Iterable[str] = ("GET", "HEAD", "POST"),
        allow_headers: Iterable[str] = (),
        allow_credentials: bool = False,
        expose_headers: Iterable[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        origins = [origin.lower().rstrip("/") for origin in allow_origins]
        self.allow_all = "*" in origins
        if self.allow_all and allow_credentials:
            # APPSEC: credentials with a wildcard origin would let any site read logged-in data.
            raise ValueError(
                "CORS allow_credentials=True cannot be combined with allow_origins=['*']; "
                "list the origins that may send credentials, or use allow_origin_regex"
            )
        self.origins = frozenset(o for o in origins if o != "*")
        self.origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        if self.origin_regex is not None and allow_credentials:
            for probe in _NOBODYS_ORIGINS:
                if self.origin_regex.fullmatch(probe):
                    # APPSEC: the same rule as "*" with credentials.
                    raise ValueError(
                        f"CORS allow_origin_regex {allow_origin_regex!r} matches origins of any "
                        f"site (it lets in {probe!r}), which allow_credentials=True forbids; "
                        r"anchor it to your domains, e.g. r'https://[a-z0-9-]+\.example\.com'"
                    )
        methods = [m.upper() for m in allow_methods]
        self.all_methods = "*" in methods
        self.methods = frozenset(methods)
        headers = [h.lower() for h in allow_headers]
        self.all_headers = "*" in headers
        self.headers = frozenset(headers) | _SAFELISTED
        for name in (*methods, *headers, *expose_headers):
            if name != "*" and not is_token(name):
                raise ValueError(f"CORS: {name!r} is not a valid method or header name")
        self.credentials = allow_credentials
        # PERF: every constant header is encoded once, here.
        common: RawHeaders = []
        if allow_credentials:
            common.append((b"access-control-allow-credentials", b"true"))
        self.preflight_headers: RawHeaders = [
            *common,
            (b"access-control-max-age", b"%d" % max_age),
        ]
        if not self.all_methods:
            self.preflight_headers.append(
                (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode())
            )
        exposed = ", ".join(expose_headers)
        self.response_headers = common + (
            [(b"access-control-expose-headers", exposed.encode("latin-1"))] if exposed else []
        )
        self.wildcard_headers: RawHeaders = [
            (b"access-control-allow-origin", b"*"),
            *self.response_headers,
        ]

    def origin_allowed(self, origin: str) -> bool:
        if self.allow_all or origin in self.origins:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        request_method: bytes | None = None
        request_headers: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                request_method = value
            elif name == b"access-control-request-headers":
                request_headers = value
        if origin is not None and request_method is not None and scope["method"] == "OPTIONS":
            await self.preflight(origin, request_method, request_headers, send)
            return
        extra = self.simple_headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: RawHeaders = message.get("headers", [])
                if self.allow_all:
                    message["headers"] = list(headers) + extra
                else:
                    message["headers"] = with_vary(headers, _VARY) + extra
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def simple_headers(self, origin: bytes | None) -> RawHeaders:
        """The headers an actual (non-preflight) response gets."""
        if self.allow_all:
            # The same answer for every origin: no Vary needed, and cacheable for all.
            return self.wildcard_headers
        if origin is not None and self.origin_allowed(origin.decode("latin-1").lower()):
            return [(b"access-control-allow-origin", origin), *self.response_headers]
        return []

    async def preflight(
        self, origin: bytes, method: bytes, requested: bytes | None, send: Send
    ) -> None:
        vary: RawHeaders = [] if self.allow_all else [(b"vary", _VARY)]
        if not self.origin_allowed(origin.decode("latin-1").lower()):
            await send_text(send, 400, b"Disallowed CORS origin", vary)
            return
        method_text = method.decode("latin-1").strip()
        if not is_token(method_text) or not (self.all_methods or method_text in self.methods):
            await send_text(send, 400, b"Disallowed CORS method", vary)
            return
        names = [
            name.strip().lower()
            for name in (requested or b"").decode("latin-1").split(",")
            if name.strip()
        ]
        for name in names:
            if not is_token(name) or not (self.all_headers or name in self.headers):
                await send_text(send, 400, b"Disallowed CORS headers", vary)
                return
        headers: RawHeaders = [
            (b"access-control-allow-origin", b"*" if self.allow_all else origin),
            *vary,
            *self.preflight_headers,
        ]
        if self.all_methods:
            headers.append((b"access-control-allow-methods", method_text.encode("latin-1")))
        if names:
            # Every name was checked above (a token, and allowed): echoing them is safe.
            headers.append((b"access-control-allow-headers", ", ".join(names).encode("latin-1")))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
