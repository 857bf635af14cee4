"""Time limits: a handler decorator for routes and routers, and an ASGI middleware for a whole app.

    @router.get("/report")
    @timeout(5)                              # below the route decorator, next to the function
    async def report(conn): ...

    Router(decorators=[timeout(5)])          # every route of a router
    aaf(routers, middleware=[Middleware(TimeoutMiddleware, seconds=30)])   # the whole app

On expiry the handler is cancelled (its ``finally`` blocks and ``async with`` exits run) and the
client gets ``503`` with aaf's JSON error body, or the status or response the decorator was
given. A response that already started (``conn.send()`` streams, a returned streaming response)
cannot change its status: it is left unfinished, so the server closes the connection and the
client sees a truncated answer rather than a falsely complete one (aaf's rule for any error
after the start), and a warning is logged.

Long-lived routes also get an idle bound: ``timeout(idle=30)`` ends a returned stream that
produced nothing for 30 s (an event stream ends cleanly, so the browser reconnects; any other
stream is cut, as above) and closes a WebSocket that received nothing for 30 s (its
``close_code``, reason "idle time limit reached"). ``seconds`` and ``idle`` combine: the
session's total bound and its idle bound.

Routes without the decorator pay nothing: the deadline lives in the wrapper, built once at
registration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from . import _json
from ._callables import AsyncHandler, connection_decorator, is_async_callable
from ._http import start_message
from .errors import HTTPError
from .response import BaseResponse, HttpResponse
from .sse import EventSourceResponse
from .streaming import StreamingResponse, iterate
from .websocket import NORMAL_CLOSURE, WebSocketState

if TYPE_CHECKING:
    from ._types import ASGIApp, Message, Receive, Scope, Send
    from .connection import Connection

__all__ = ["TimeoutMiddleware", "timeout"]

logger = logging.getLogger("aaf.timeouts")

H = TypeVar("H", bound=Callable[..., Any])

SESSION_LIMIT_REASON = "session time limit reached"
IDLE_LIMIT_REASON = "idle time limit reached"


class _StreamIdle(Exception):
    """A returned stream produced nothing for its idle bound."""


def _check(seconds: float | None, status: int, idle: float | None = None) -> None:
    if seconds is None and idle is None:
        raise ValueError("timeout() needs seconds (a total bound), idle= (an idle bound) or both")
    for value in (seconds, idle):
        if value is not None and not value > 0:
            raise ValueError(f"a timeout must be a positive number of seconds, not {value!r}")
    if not 400 <= status <= 599:
        raise ValueError(f"a timeout answers with a 4xx/5xx status, not {status}")


def _detail(seconds: float) -> str:
    return f"the request took longer than {seconds:g} s"


def timeout(
    seconds: float | None = None,
    *,
    idle: float | None = None,
    status: int = 503,
    response: HttpResponse | None = None,
    close_code: int = NORMAL_CLOSURE,
) -> Callable[[H], H]:
    """Bound one handler to ``seconds`` (put it *below* the route decorator).

    HTTP: the bound covers the handler and a streaming response it returns (sent inside the
    bound). On expiry before the response started, the answer is ``HTTPError(status)`` (JSON
    ``{"error": "the request took longer than 5 s"}``, through ``exception_handlers``) or, if
    given, ``response`` (a whole ``HttpResponse``, reused for every expiry). After the start,
    the response is cut (left unfinished) and a warning logged.

    WebSocket: the bound covers the whole session. Before ``accept()`` the handshake is refused
    with ``status``/``response``; an accepted socket is closed with ``close_code`` (default
    1000, reason "session time limit reached": a deliberate end, not an error).

    ``idle``: a returned stream that produces nothing for that long ends (an
    ``EventSourceResponse`` cleanly, through its ``idle_timeout``; another stream is cut); a
    WebSocket that receives nothing for that long is closed with ``close_code`` (reason "idle
    time limit reached"). ``seconds=None`` leaves only the idle bound.

    The handler must be ``async def``: a thread running a plain ``def`` cannot be cancelled.
    """
    _check(seconds, status, idle)

    def decorator(handler: H) -> H:
        if not is_async_callable(handler):
            raise TypeError(
                f"timeout() needs an 'async def' handler, not {handler!r}: a plain def runs in a "
                "thread, which cannot be cancelled when the time is up"
            )

        def wrap(inner: AsyncHandler) -> AsyncHandler:
            async def bounded(conn: Connection, *args: Any, **kwargs: Any) -> Any:
                deadline = asyncio.timeout(seconds)
                idle_deadline = asyncio.timeout(None)
                if idle is not None and conn.scope["type"] == "websocket":
                    idle_deadline = asyncio.timeout(idle)
                    _rearm_on_receive(conn, idle_deadline, idle)
                try:
                    async with deadline, idle_deadline:
                        result = await inner(conn, *args, **kwargs)
                        if conn.scope["type"] == "http" and _streams(result):
                            if idle is not None and conn.method != "HEAD":
                                _bound_stream_idle(result, idle)
                            # A returned stream is sent after the handler returns; sending it here
                            # keeps it inside the bound.
                            await conn.respond(result)
                            return None
                        return result
                except _StreamIdle:
                    quiet = f"the response produced nothing for {idle:g} s"
                    raise HTTPError(status, quiet) from None
                except TimeoutError:
                    which = seconds if deadline.expired() else idle
                    if not (deadline.expired() or idle_deadline.expired()) or which is None:
                        raise  # the handler's own TimeoutError (its own deadline), not this one
                    if conn.scope["type"] == "websocket":
                        reason = SESSION_LIMIT_REASON if deadline.expired() else IDLE_LIMIT_REASON
                        return await _end_session(conn, which, status, response, close_code, reason)
                    return _expired(conn, which, status, response)

            return bounded

        return connection_decorator(handler, wrap)  # type: ignore[no-any-return]

    return decorator


def _later(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds


def _rearm_on_receive(conn: Connection, deadline: asyncio.Timeout, idle: float) -> None:
    """Every message the WebSocket receives moves the idle deadline ``idle`` seconds on."""
    receive = conn.asgi_receive

    async def receive_and_rearm() -> Any:
        message = await receive()
        # RuntimeError: the handler already left the bound (a receive in a cleanup).
        with contextlib.suppress(RuntimeError):
            deadline.reschedule(_later(idle))
        return message

    conn.asgi_receive = receive_and_rearm


def _bound_stream_idle(result: BaseResponse, idle: float) -> None:
    if isinstance(result, EventSourceResponse):
        # Ends cleanly: the browser reconnects. The shorter bound wins.
        current = result.idle_timeout
        result.idle_timeout = idle if current is None else min(current, idle)
    elif isinstance(result, StreamingResponse):
        result.content = _idle_bounded(result.content, idle)


async def _idle_bounded(
    content: Iterable[Any] | AsyncIterable[Any], idle: float
) -> AsyncGenerator[Any, None]:
    source = iterate(content)
    try:
        while True:
            try:
                async with asyncio.timeout(idle):
                    item = await anext(source)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise _StreamIdle from None
            yield item
    finally:
        await source.aclose()


def _streams(result: object) -> bool:
    return isinstance(result, BaseResponse) and not isinstance(result, HttpResponse)


def _expired(
    conn: Connection, seconds: float, status: int, response: HttpResponse | None
) -> HttpResponse:
    if conn.started or response is None:
        # Raised after the start, an HTTPError leaves the response unfinished and is logged as
        # a warning by the app (its rule for any error after the start).
        raise HTTPError(status, _detail(seconds))
    # Headers the cancelled handler put on the connection belong to the answer that failed.
    conn._resp_headers = None
    return response


async def _end_session(
    conn: Connection,
    seconds: float,
    status: int,
    response: HttpResponse | None,
    close_code: int,
    reason: str = SESSION_LIMIT_REASON,
) -> HttpResponse | None:
    state = conn.ws_state
    if state == WebSocketState.CONNECTING:
        if response is not None:
            return response  # returned before accept: the handshake is refused with it
        raise HTTPError(status, _detail(seconds))
    if state == WebSocketState.CONNECTED:
        logger.info("closing WebSocket %s: %s (%g s)", conn.path, reason, seconds)
        await conn.close(close_code, reason)
    return None


class TimeoutMiddleware:
    """Bound every HTTP request of an app to ``seconds`` (WebSockets and lifespan pass through).

    The inner app is cancelled on expiry. If it had not started its response, the client gets
    ``status`` with aaf's JSON error body; if it had, the response is left unfinished (the
    server closes the connection) and a warning is logged. Use the ``timeout()`` decorator for
    routes that need another bound: the shorter of the two wins.
    """

    def __init__(self, app: ASGIApp, *, seconds: float, status: int = 503) -> None:
        _check(seconds, status)
        self.app = app
        self.seconds = seconds
        self.status = status
        self._body = _json.encode({"error": _detail(seconds)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            if not deadline.expired():
                raise
            if started:
                logger.warning(
                    "%s %s took longer than %g s after its response started; the response is cut",
                    scope["method"],
                    scope["path"],
                    self.seconds,
                )
                return
            # The one rule for response starts: no body on HEAD, a Content-Length that fits.
            start, keep = start_message(
                self.status,
                scope.get("method") == "HEAD",
                [(b"content-type", b"application/json")],
                None,
                len(self._body),
            )
            await send(start)
            await send({"type": "http.response.body", "body": self._body if keep else b""})
