"""Rate limiting: app-wide (``RateLimitMiddleware``) and per route (``@rate_limit``).

    app = aaf([router], middleware=[
        Middleware(RateLimitMiddleware, limit="100/minute", exempt=["/health"]),
    ])

    @router.post("/login")
    @rate_limit("5/minute")             # below the route decorator: it wraps the handler
    async def login(conn): ...

Each client (by default its address, ``scope["client"][0]``, which ``ProxyHeadersMiddleware``
sets from a trusted proxy's headers; IPv6 addresses count per /64 network) gets ``limit``
requests per period, in bursts of up to ``limit`` (GCRA, see ``aaf.ratelimit_backends``).
``key=`` picks another identity: a function of the ASGI scope returning a string, or None to
leave that request unlimited (``by_user_or_address`` is one).

A refused request gets ``429`` with ``Retry-After`` (seconds) and the IETF headers of
draft-ietf-httpapi-ratelimit-headers (``RateLimit-Policy: "default";q=100;w=60`` and
``RateLimit: "default";r=0;t=17``); allowed ones carry the same two headers. ``r`` is the
requests left, ``t`` the seconds until the whole budget is back.

WebSocket: a refused connect is denied with 429 (servers with the ``websocket.http.response``
extension) or closed with 1008 and a reason before accept. ``message_limit="20/second"``
also limits each connection's incoming messages: a client that sends faster is closed with
1008 "message rate limit exceeded" and the app's ``receive`` reports a disconnect.

Backend failures (Redis down or slower than its ``timeout``): ``on_backend_error="allow"``
(the default) lets requests through and logs a warning; ``"deny"`` answers 503.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._callables import AsyncHandler, connection_decorator, is_async_callable
from ..errors import HTTPError
from ..ratelimit_backends import (
    Decision,
    MemoryBackend,
    RateLimit,
    RateLimitBackend,
    RateLimitBackendError,
    ceil_seconds,
    gcra,
    parse_rate,
)
from ._common import refuse_websocket, send_text

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, RawHeaders, Receive, Scope, Send
    from ..connection import Connection

__all__ = [
    "MemoryBackend",
    "RateLimit",
    "RateLimitMiddleware",
    "by_user_or_address",
    "client_address",
    "rate_limit",
]

logger = logging.getLogger("aaf.ratelimit")

H = TypeVar("H", bound=Callable[..., Any])
KeyFunction = Callable[["Scope"], "str | None"]
OnBackendError = Literal["allow", "deny"]

_POLICY_VIOLATION = 1008
_WARN_EVERY = 10.0  # seconds between two "backend failed" warnings of one limiter


def client_address(scope: Scope) -> str:
    """The default key: the client's address; one key per /64 for IPv6.

    APPSEC: an IPv6 client usually holds a whole /64, so keying on the full address would
    give it 2**64 budgets. A scope without a client (a Unix socket, or a proxy that said
    "unknown") shares the one key ``"unknown"`` rather than going unlimited.
    """
    client = scope.get("client")
    if not client:
        return "unknown"
    host: str = client[0]
    if ":" in host:
        try:
            network = ipaddress.IPv6Network((host, 64), strict=False)
        except ValueError:
            return host
        return f"{network.network_address}/64"
    return host


def by_user_or_address(scope: Scope) -> str:
    """The authenticated user's subject (``scope["user"]``) when there is one, else the address."""
    user = scope.get("user")
    subject = getattr(user, "subject", None)
    if subject:
        return f"user:{subject}"
    return "addr:" + client_address(scope)


class _Limiter:
    """One limit, keyed and counted: what the middleware and the decorator share."""

    __slots__ = (
        "backend",
        "fail_open",
        "interval",
        "key",
        "name",
        "namespace",
        "period",
        "policy",
        "rate",
        "state_prefix",
        "sync_hit",
        "warned_at",
    )

    def __init__(
        self,
        limit: str | RateLimit,
        key: KeyFunction | None,
        backend: RateLimitBackend | None,
        name: str,
        namespace: str,
        on_backend_error: OnBackendError,
    ) -> None:
        self.rate = parse_rate(limit)
        self.interval = self.rate.interval
        self.period = self.rate.period_seconds
        self.key = key or client_address
        self.backend: RateLimitBackend = backend if backend is not None else MemoryBackend()
        # PERF: the memory backend does no I/O; calling it directly saves a coroutine per check.
        self.sync_hit = self.backend.hit_now if isinstance(self.backend, MemoryBackend) else None
        if on_backend_error not in ("allow", "deny"):
            raise ValueError(
                f"on_backend_error={on_backend_error!r}: use 'allow' (let requests through "
                "while the backend is down) or 'deny' (answer 503)"
            )
        self.fail_open = on_backend_error == "allow"
        if not name or not all(" " <= char <= "~" and char not in '"\\' for char in name):
            raise ValueError(
                f"rate limit name {name!r} goes into the RateLimit headers: use printable "
                "ASCII without quotes or backslashes, such as 'default' or 'login'"
            )
        self.name = name
        self.namespace = namespace
        self.policy = f'"{name}";q={self.rate.limit};w={ceil_seconds(self.period)}'.encode()
        self.state_prefix = f'"{name}";r='.encode()
        self.warned_at = -_WARN_EVERY

    async def check(self, scope: Scope) -> Decision | None:
        """The decision for this request; None when it is not limited (no key, or the backend
        failed and ``on_backend_error`` is "allow"). Raises RateLimitBackendError otherwise."""
        key = self.key(scope)
        if key is None:
            return None
        try:
            allowed, ahead = await self.backend.hit(
                self.namespace + key, self.interval, self.period
            )
        except RateLimitBackendError as exc:
            now = time.monotonic()
            if now - self.warned_at >= _WARN_EVERY:
                self.warned_at = now
                action = "letting requests through" if self.fail_open else "answering 503"
                logger.warning("rate limit %r: %s; %s", self.name, exc, action)
            if self.fail_open:
                return None
            raise
        return Decision.from_hit(self.rate, allowed, ahead)

    def headers(self, decision: Decision) -> RawHeaders:
        reset = ceil_seconds(decision.reset_after)
        state = self.state_prefix + b"%d;t=%d" % (decision.remaining, reset)
        headers = [(b"ratelimit-policy", self.policy), (b"ratelimit", state)]
        if not decision.allowed:
            headers.append((b"retry-after", b"%d" % max(1, ceil_seconds(decision.retry_after))))
        return headers


_TOO_MANY = b"Too Many Requests: slow down and retry after the Retry-After seconds"
_UNAVAILABLE = b"Rate limiting is unavailable; retry shortly"
_UNAVAILABLE_HEADERS: RawHeaders = [(b"retry-after", b"1")]


class RateLimitMiddleware:
    """Limits every HTTP request and WebSocket connect (except ``exempt`` paths).

    Args:
        limit: ``"100/minute"``, ``"5/10 seconds"``... or ``RateLimit(100, 60)``.
        key: ``key(scope) -> str | None``: whose budget a request uses (None: unlimited).
            Default: the client address (``client_address``).
        backend: ``MemoryBackend()`` (the default, one process) or ``RedisBackend(url)``.
        exempt: path prefixes never limited, matched on whole segments (``"/health"``
            exempts ``/health`` and ``/health/live``, not ``/healthz``).
        name: the policy name in the RateLimit headers, and the namespace of its keys.
        message_limit: a limit on each WebSocket connection's incoming messages.
        on_backend_error: ``"allow"`` (default) or ``"deny"`` (503) when the backend fails.
        headers: add the RateLimit headers to allowed responses too.
        clock: monotonic seconds for ``message_limit`` (injectable for tests).
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: str | RateLimit = "100/minute",
        *,
        key: KeyFunction | None = None,
        backend: RateLimitBackend | None = None,
        exempt: Iterable[str] = (),
        name: str = "default",
        message_limit: str | RateLimit | None = None,
        on_backend_error: OnBackendError = "allow",
        headers: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.limiter = _Limiter(limit, key, backend, name, name + ":", on_backend_error)
        self.exempt = tuple(_exempt_prefixes(exempt))
        self.message_rate = None if message_limit is None else parse_rate(message_limit)
        self.add_headers = headers
        self.clock = clock

    def is_exempt(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in self.exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.exempt and self.is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            decision = await self.limiter.check(scope)
        except RateLimitBackendError:
            await send_text(send, 503, _UNAVAILABLE, _UNAVAILABLE_HEADERS)
            return
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = self.limiter.headers(decision)
        if not decision.allowed:
            await send_text(send, 429, _TOO_MANY, headers)
            return
        if not self.add_headers:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.exempt and self.is_exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            decision = await self.limiter.check(scope)
        except RateLimitBackendError:
            await deny_websocket(scope, receive, send, 503, _UNAVAILABLE, _UNAVAILABLE_HEADERS)
            return
        if decision is not None and not decision.allowed:
            headers = self.limiter.headers(decision)
            await deny_websocket(scope, receive, send, 429, _TOO_MANY, headers)
            return
        if self.message_rate is not None:
            guard = MessageGuard(receive, send, self.message_rate, self.clock)
            receive, send = guard.receive, guard.send
        await self.app(scope, receive, send)


async def deny_websocket(
    scope: Scope, receive: Receive, send: Send, status: int, body: bytes, headers: RawHeaders
) -> None:
    """Refuse a WebSocket handshake: an HTTP answer where the server can send one, else a
    close with 1008 and a reason (the server then answers 403)."""
    reason = "rate limit exceeded" if status == 429 else "rate limiting unavailable"
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await refuse_websocket(receive, send, reason)
        return
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    start: RawHeaders = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        *headers,
    ]
    await send({"type": "websocket.http.response.start", "status": status, "headers": start})
    await send({"type": "websocket.http.response.body", "body": body})


class MessageGuard:
    """Counts one WebSocket's incoming messages (GCRA, in this process: a connection lives in
    one process) and closes it with 1008 when they come too fast.

    The app's ``receive`` then returns a ``websocket.disconnect``; what it sends afterwards is
    dropped, since the socket is closed.
    """

    __slots__ = ("_receive", "_send", "clock", "closed", "interval", "period", "tat")

    REASON = "message rate limit exceeded"

    def __init__(
        self, receive: Receive, send: Send, rate: RateLimit, clock: Callable[[], float]
    ) -> None:
        self._receive = receive
        self._send = send
        self.interval = rate.interval
        self.period = rate.period_seconds
        self.clock = clock
        self.tat = 0.0
        self.closed = False

    async def receive(self) -> Message:
        if self.closed:
            return {"type": "websocket.disconnect", "code": _POLICY_VIOLATION}
        message = await self._receive()
        if message["type"] == "websocket.receive":
            allowed, self.tat = gcra(self.tat, self.clock(), self.interval, self.period)
            if not allowed:
                self.closed = True
                close = {"type": "websocket.close", "code": _POLICY_VIOLATION}
                await self._send({**close, "reason": self.REASON})
                return {"type": "websocket.disconnect", "code": _POLICY_VIOLATION}
        return message

    async def send(self, message: Message) -> None:
        if not self.closed:
            await self._send(message)


def _exempt_prefixes(paths: Iterable[str]) -> list[str]:
    if isinstance(paths, str):
        raise TypeError(f"exempt takes a list of path prefixes, such as [{paths!r}]")
    prefixes = []
    for path in paths:
        if not path.startswith("/"):
            raise ValueError(f"exempt path {path!r} must start with '/', such as '/health'")
        prefixes.append(path.rstrip("/") or "/")
    return prefixes


def rate_limit(
    limit: str | RateLimit,
    *,
    key: KeyFunction | None = None,
    backend: RateLimitBackend | None = None,
    name: str | None = None,
    on_backend_error: OnBackendError = "allow",
    headers: bool = True,
) -> Callable[[H], H]:
    """Limit one handler (put it *below* the route decorator, next to the function)::

        @router.post("/login")
        @rate_limit("5/minute")
        async def login(conn): ...

    The handler takes the connection first (as with ``requires()``). Routes without it pay
    nothing: the check is in the wrapper, built once at registration. Each decorated handler
    has its own budget; ``name="api"`` shares one budget between every handler decorated with
    that name (and backend), e.g. all the routes of a router. Refused HTTP requests raise
    ``HTTPError(429)`` (JSON body, ``Retry-After``, RateLimit headers); refused WebSockets are
    denied with 429 or closed with 1008 before accept.
    """

    def decorator(handler: H) -> H:
        namespace = f"{name}:" if name else f"{handler.__module__}.{handler.__qualname__}:"
        limiter = _Limiter(
            limit, key, backend, name or handler.__name__, namespace, on_backend_error
        )

        def wrap(inner: AsyncHandler) -> AsyncHandler:
            run = inner if is_async_callable(inner) else _in_thread(inner)

            async def limited(conn: Connection, *args: Any, **kwargs: Any) -> Any:
                try:
                    decision = await limiter.check(conn.scope)
                except RateLimitBackendError:
                    unavailable = {"retry-after": "1"}
                    raise HTTPError(503, "rate limiting is unavailable", unavailable) from None
                if decision is not None:
                    if not decision.allowed:
                        refusal = _text(limiter.headers(decision))
                        raise HTTPError(429, "rate limit exceeded", refusal)
                    if headers and conn.scope["type"] == "http":
                        for header, value in limiter.headers(decision):
                            conn.put_resp_header(header.decode(), value.decode())
                return await run(conn, *args, **kwargs)

            return limited

        return connection_decorator(handler, wrap)  # type: ignore[no-any-return]

    return decorator


def _in_thread(handler: Callable[..., Any]) -> Callable[..., Any]:
    # A plain def handler may block; it runs in a worker thread, as routing would run it.
    async def call(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(handler, *args, **kwargs)

    return call


def _text(headers: RawHeaders) -> list[tuple[str, str]]:
    return [(name.decode(), value.decode()) for name, value in headers]
