"""CSRF protection for apps that authenticate with cookies.

    aaf([router], middleware=[
        Middleware(SessionMiddleware, secret_key=SECRET),   # outside: CSRF keeps its seed in it
        Middleware(CSRFMiddleware, secret_key=SECRET),
    ])

Requests with a safe method (GET, HEAD, OPTIONS, TRACE) are never checked: keep them free of
side effects. Every other request passes two checks:

1. **Where it comes from.** ``Sec-Fetch-Site`` must be ``same-origin``, and ``Origin`` must be
   this request's own origin (scheme and host, as ``conn.url`` builds them) or one of
   ``trusted_origins``. ``Origin: null``, other subdomains and other ports are refused. A request
   with neither header (an old browser, a non-browser client) goes on to the token check.
2. **A token.** The client sends back the token from :func:`csrf_token` in the ``X-CSRF-Token``
   header (JavaScript) or the ``csrf_token`` form field (HTML forms, url-encoded or multipart);
   never in the query string. The field is read ahead of the app and replayed to it, so
   ``await conn.form()`` still works.

Tokens: ``salt.HMAC(secret, seed | user | salt)``. With ``SessionMiddleware`` the seed is random,
in ``conn.session["_csrf"]``, and ``user`` is the session's ``user_key`` value; the seed is
replaced when that value changes (login, logout), so older tokens fail. Without sessions the
token lives in the ``csrftoken`` cookie and must equal the one sent (signed double-submit;
call :func:`rotate_csrf_token` at login and logout). That cookie is readable by scripts on
purpose (they copy it into the header), ``SameSite=Lax``, ``Secure`` on https.

Skipped: ``exempt_paths`` (exact paths, or prefixes ending in ``/``), and requests with an
``Authorization: Bearer`` header and no ``Cookie`` header at all (``skip_bearer=True``): a
browser never adds a bearer token by itself, so a forged request cannot carry one.

WebSocket handshakes: a cross-origin ``Origin`` (or a ``Sec-Fetch-Site`` other than
``same-origin``) is refused with 403; browsers send cookies on cross-site WebSocket handshakes.

Refusals are ``403`` with a short text naming the failed check and the fix; the expected token
is never in it. Put this middleware outside any method-override middleware: only the request's
real method counts (``X-HTTP-Method-Override`` and ``_method`` are ignored).
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .. import _json
from ..cookies import SameSite, build_set_cookie, parse_cookie_header
from ..limits import DEFAULT_LIMITS
from ._common import derive_keys, refuse_websocket, send_text
from ._csrf_request import FormTokenReader, Origin, form_kind, own_origin, parse_origin, replaying

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, Receive, Scope, Send
    from ..connection import Connection

__all__ = [
    "CSRF_HEADER",
    "CSRFMiddleware",
    "csrf_token",
    "rotate_csrf_token",
]

logger = logging.getLogger("aaf.csrf")

#: The request header JavaScript clients send the token in (the default ``header_name``).
CSRF_HEADER = "X-CSRF-Token"
SCOPE_KEY = "aaf.csrf"
SESSION_KEY = "_csrf"

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_MAX_TOKEN = 200


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class _Refusal(Exception):
    """A failed check: ``what`` failed, ``fix`` says what to change. Never holds a token."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(what)
        self.text = f"CSRF check failed: {what}. Fix: {fix}\n".encode()


class _State:
    """Per request: how tokens are made and checked, and what the response must set."""

    __slots__ = (
        "cookie_token",
        "issued",
        "middleware",
        "scope",
        "session_mode",
        "token_cache",
        "user_at_start",
    )

    def __init__(self, middleware: CSRFMiddleware, scope: Scope, cookie_token: str | None) -> None:
        self.middleware = middleware
        self.scope = scope
        self.cookie_token = cookie_token  # the csrftoken cookie the request carried
        self.issued = False  # a handler asked for a token: the response sets the cookie
        self.token_cache: str | None = None
        # Decided once: with a SessionMiddleware inside this one (the wrong order), tokens
        # stay in cookie mode for the whole request instead of switching half-way.
        self.session_mode = "session" in scope
        session = self.session()
        self.user_at_start = self.user_bytes(session) if session is not None else b""

    def session(self) -> dict[str, Any] | None:
        return self.scope["session"] if self.session_mode else None

    def user_bytes(self, session: dict[str, Any]) -> bytes:
        return _json.encode(session.get(self.middleware.user_key))

    def token(self) -> str:
        """A token valid for this session and user (the same one for the whole request)."""
        self.issued = True
        session = self.session()
        if session is not None:
            self.follow_user(session)
        if self.token_cache is not None:
            return self.token_cache
        middleware = self.middleware
        if session is None:
            if self.cookie_token is not None and middleware.valid_token(self.cookie_token, b""):
                token = self.cookie_token
            else:
                token = middleware.make_token(b"")
        else:
            seed = session.get(SESSION_KEY)
            if not isinstance(seed, str):
                seed = session[SESSION_KEY] = _b64(secrets.token_bytes(24))
            token = middleware.make_token(seed.encode() + b"|" + self.user_bytes(session))
        self.token_cache = token
        return token

    def follow_user(self, session: dict[str, Any]) -> bool:
        """Replace the seed if the session's user changed (login, logout) since last seen."""
        user = self.user_bytes(session)
        if user == self.user_at_start:
            return False
        # APPSEC: every token made before the change stops working, even for a user who
        # logs out and back in; tokens made after it (a page rendered by the login handler
        # itself) use the new seed.
        self.user_at_start = user
        self.rotate()
        return True

    def rotate(self) -> None:
        """Forget the seed (session) or the cookie token: the next token is a new one."""
        session = self.session()
        if session is not None:
            session.pop(SESSION_KEY, None)
        else:
            self.cookie_token = None
        self.token_cache = None

    def verify(self, submitted: str) -> None:
        """Raise :class:`_Refusal` unless ``submitted`` is this session's token."""
        middleware = self.middleware
        session = self.session()
        if session is None:
            cookie = self.cookie_token
            if cookie is None or not middleware.valid_token(cookie, b""):
                raise _Refusal(
                    f"no valid {middleware.cookie_name} cookie came with the request",
                    "load a page that calls csrf_token(conn) first, so the cookie is set",
                )
            # APPSEC: compare_digest over equal-type strings; ascii-only by valid_token above.
            if not submitted.isascii() or not hmac.compare_digest(submitted, cookie):
                raise _Refusal(
                    "the token does not match this browser's csrftoken cookie",
                    "send the token from csrf_token(conn) or from the csrftoken cookie",
                )
            return
        seed = session.get(SESSION_KEY)
        if not isinstance(seed, str):
            raise _Refusal(
                "no token was issued for this session (it is new, expired, or the user changed)",
                "reload the page to get a fresh form, then submit it again",
            )
        if not middleware.valid_token(submitted, seed.encode() + b"|" + self.user_bytes(session)):
            raise _Refusal(
                "the token is not valid for this session and user",
                "use the token from this session's latest page (tokens change at login/logout)",
            )

    def response_cookie(self) -> bytes | None:
        """The Set-Cookie this response needs (called at ``http.response.start``)."""
        session = self.session()
        if session is not None and self.follow_user(session) and self.cookie_token is not None:
            self.token()  # the browser's cookie token is dead: send a new one
        if not self.issued:
            return None
        token = self.token()
        if token == self.cookie_token:
            return None
        if session is not None and self.cookie_token is not None:
            # A salted token: still valid for this seed and user? Then keep the cookie.
            seed = session.get(SESSION_KEY, "")
            binding = str(seed).encode() + b"|" + self.user_bytes(session)
            if self.middleware.valid_token(self.cookie_token, binding):
                return None
        return self.middleware.cookie_header(token, self.scope)


class CSRFMiddleware:
    """Refuses cross-site unsafe requests and requests without this session's token.

    Args:
        secret_key: a secret of at least 16 bytes, or a list of them, newest first (the newest
            signs, every one verifies).
        trusted_origins: other origins allowed to send unsafe requests
            (``"https://admin.example.com"``); subdomains are never trusted implicitly.
        header_name: the request header carrying the token (:data:`CSRF_HEADER`).
        field_name: the form field carrying the token.
        cookie_name: the JavaScript-readable cookie holding a token.
        user_key: the session key whose value identifies the user; tokens are bound to it.
        exempt_paths: exact paths, or path prefixes ending in ``/``, never checked.
        skip_bearer: skip requests with ``Authorization: Bearer`` and no ``Cookie`` header.
        trust_fetch_metadata: when True, a request that ``Sec-Fetch-Site``/``Origin`` show to be
            same-origin needs no token (the check modern browsers make possible); the default,
            False, asks for the token as well.
        max_body_read: bytes of a form body read ahead to find the field (the app's default
            ``max_body_size``); put the field first in large multipart forms.
        cookie_secure: ``Secure`` on the cookie; ``None`` sets it on https requests.
        cookie_samesite, cookie_path, cookie_domain: the cookie's other attributes.
    """

    def __init__(
        self,
        app: ASGIApp,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        trusted_origins: Iterable[str] = (),
        header_name: str = CSRF_HEADER,
        field_name: str = "csrf_token",
        cookie_name: str = "csrftoken",
        user_key: str = "user",
        exempt_paths: Iterable[str] = (),
        skip_bearer: bool = True,
        trust_fetch_metadata: bool = False,
        max_body_read: int = DEFAULT_LIMITS.body,
        cookie_secure: bool | None = None,
        cookie_samesite: SameSite = "lax",
        cookie_path: str = "/",
        cookie_domain: str | None = None,
    ) -> None:
        self.app = app
        self.keys = derive_keys(secret_key, b"aaf.csrf.v1", "CSRFMiddleware")
        self.trusted: frozenset[Origin] = frozenset(self._trusted(trusted_origins))
        self.header_key = header_name.lower().encode("latin-1")
        self.field_name = field_name
        self.cookie_name = cookie_name
        self.cookie_key = cookie_name.encode("latin-1")
        self.user_key = user_key
        paths = list(exempt_paths)
        self.exempt_exact = frozenset(p for p in paths if not p.endswith("/"))
        self.exempt_prefixes = tuple(p for p in paths if p.endswith("/"))
        self.skip_bearer = skip_bearer
        self.trust_fetch_metadata = trust_fetch_metadata
        self.max_body_read = max_body_read
        self.cookie_secure = cookie_secure
        self.cookie_options: dict[str, Any] = {
            "path": cookie_path,
            "domain": cookie_domain,
            "samesite": cookie_samesite,
            # Not HttpOnly on purpose: scripts read it to fill the header.
            "httponly": False,
        }
        build_set_cookie(cookie_name, "x", secure=True, **self.cookie_options)  # fail early

    @staticmethod
    def _trusted(origins: Iterable[str]) -> Iterable[Origin]:
        for origin in origins:
            parsed = parse_origin(origin)
            if parsed is None or origin.strip().lower() == "null":
                raise ValueError(
                    f"trusted_origins: {origin!r} is not an origin; write scheme://host[:port] "
                    "with no path, e.g. 'https://admin.example.com'"
                )
            yield parsed

    # -- tokens -----------------------------------------------------------------
    def _mac(self, key: bytes, binding: bytes, salt: str) -> str:
        # PERF: hmac.digest is the one-shot C path (no HMAC object).
        return _b64(hmac.digest(key, binding + b"|" + salt.encode(), "sha256"))

    def make_token(self, binding: bytes) -> str:
        salt = _b64(secrets.token_bytes(12))
        return f"{salt}.{self._mac(self.keys[0], binding, salt)}"

    def valid_token(self, token: str, binding: bytes) -> bool:
        if len(token) > _MAX_TOKEN or not token.isascii():
            return False
        salt, sep, mac = token.partition(".")
        if not sep or not salt:
            return False
        # APPSEC: constant-time comparison against every key's MAC.
        return any(hmac.compare_digest(self._mac(key, binding, salt), mac) for key in self.keys)

    def cookie_header(self, token: str, scope: Scope) -> bytes:
        secure = self.cookie_secure
        if secure is None:
            secure = scope.get("scheme") in ("https", "wss")
        return build_set_cookie(
            self.cookie_name, token, secure=secure, **self.cookie_options
        ).encode("latin-1")

    # -- checks -----------------------------------------------------------------
    def exempt(self, path: str) -> bool:
        return path in self.exempt_exact or path.startswith(self.exempt_prefixes)

    def check_source(self, scope: Scope, origin: bytes | None, site: bytes | None) -> bool:
        """Raise :class:`_Refusal` for a cross-site request; True when shown same-origin."""
        trusted = False
        if origin is not None:
            if origin.strip().lower() == b"null":
                raise _Refusal(
                    "the request came from an opaque origin (Origin: null: a sandboxed frame, "
                    "a file: page or a cross-origin redirect)",
                    "submit from a page of this site",
                )
            parsed = parse_origin(origin.decode("latin-1"))
            if parsed is not None and parsed in self.trusted:
                trusted = True
            elif parsed is None or parsed != own_origin(scope):
                raise _Refusal(
                    "the Origin header is another site (subdomains and ports count as others)",
                    "send from this origin, or list the origin in trusted_origins",
                )
        if site is not None and site != b"same-origin" and not trusted:
            raise _Refusal(
                f"Sec-Fetch-Site is {site.decode('latin-1')[:20]!r}, not 'same-origin'",
                "send from a page of this origin, or list the sender in trusted_origins",
            )
        return origin is not None or site is not None

    async def _token_from_form(
        self, scope: Scope, receive: Receive, content_type: bytes | None
    ) -> tuple[str | None, Receive]:
        kind, boundary = form_kind(content_type)
        if not kind:
            return None, receive
        reader = FormTokenReader(self.field_name, self.max_body_read)
        token = await reader.read(receive, kind, boundary)
        return token, replaying(reader.buffered, receive)

    # -- the ASGI app ---------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        origin = site = header_token = authorization = content_type = None
        cookies: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"sec-fetch-site":
                site = value.strip().lower()
            elif name == self.header_key:
                header_token = value
            elif name == b"cookie":
                cookies.append(value)
            elif name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
        if kind == "websocket":
            await self.websocket(scope, receive, send, origin, site)
            return
        cookie_token = self.cookie_token(cookies)
        state = _State(self, scope, cookie_token)
        scope[SCOPE_KEY] = state
        if scope["method"] not in _SAFE_METHODS and not self.skipped(scope, authorization, cookies):
            try:
                shown_same_origin = self.check_source(scope, origin, site)
                if not (shown_same_origin and self.trust_fetch_metadata):
                    submitted: str | None = None
                    if header_token is not None:
                        submitted = header_token.decode("latin-1").strip()
                    else:
                        # APPSEC: only the body's field; never the query string (it leaks
                        # into logs, Referer headers and browser history).
                        submitted, receive = await self._token_from_form(
                            scope, receive, content_type
                        )
                    if not submitted:
                        raise _Refusal(
                            "no token was sent",
                            f"send csrf_token(conn) in the {self.header_key.decode()} header "
                            f"or the {self.field_name!r} form field (first in large forms)",
                        )
                    state.verify(submitted)
            except _Refusal as refusal:
                logger.info("refused %s %s: %s", scope["method"], scope["path"], refusal)
                await send_text(send, 403, refusal.text)
                return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = state.response_cookie()
                if cookie is not None:
                    message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie)]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def skipped(self, scope: Scope, authorization: bytes | None, cookies: list[bytes]) -> bool:
        if self.exempt(scope["path"]):
            return True
        # A browser adds cookies by itself, never a bearer token: with no cookie at all, a
        # bearer-authenticated request cannot be forged cross-site.
        return (
            self.skip_bearer
            and not cookies
            and authorization is not None
            and authorization[:7].lower() == b"bearer "
        )

    def cookie_token(self, cookies: list[bytes]) -> str | None:
        for value in cookies:
            # PERF: parse the Cookie header only when our cookie name is in it.
            if self.cookie_key in value:
                token = parse_cookie_header(value.decode("latin-1")).get(self.cookie_name)
                if token is not None:
                    return token
        return None

    async def websocket(
        self, scope: Scope, receive: Receive, send: Send, origin: bytes | None, site: bytes | None
    ) -> None:
        if not self.exempt(scope["path"]):
            try:
                self.check_source(scope, origin, site)
            except _Refusal as refusal:
                logger.info("refused a WebSocket handshake to %s: %s", scope["path"], refusal)
                await refuse_websocket(receive, send, "cross-origin WebSocket refused")
                return
        await self.app(scope, receive, send)


def _state(conn: Connection) -> _State:
    state = conn.scope.get(SCOPE_KEY)
    if not isinstance(state, _State):
        raise RuntimeError(
            "csrf_token(conn) needs CSRFMiddleware: add Middleware(CSRFMiddleware, "
            "secret_key=...) to the app (inside SessionMiddleware when you use sessions)"
        )
    return state


def csrf_token(conn: Connection) -> str:
    """The token to put in forms (``<input type="hidden" name="csrf_token" value="...">``) or
    in the ``X-CSRF-Token`` header; the response also sets it in the ``csrftoken`` cookie."""
    return _state(conn).token()


def rotate_csrf_token(conn: Connection) -> None:
    """Make every earlier token of this session invalid (done by itself when the session's
    user changes; call it at login/logout when the app runs without SessionMiddleware)."""
    state = _state(conn)
    state.rotate()
    state.issued = True


class LazyToken:
    """Renders as :func:`csrf_token` when a template uses it, so pages without a form create
    no token (and no session)."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __str__(self) -> str:
        return csrf_token(self.conn)

    def __html__(self) -> str:
        return csrf_token(self.conn)  # url-safe base64 and a dot: nothing to escape
