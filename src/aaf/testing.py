"""In-process test clients built on httpx transports.

``TestClient(app)`` (sync) and ``AsyncTestClient(app)`` are httpx clients whose transport calls
the ASGI app directly: no sockets. Used as context managers they run the app's lifespan.
Responses stream: ``client.stream("GET", "/events")`` yields chunks as the app sends them, and
``iter_sse(response)`` / ``aiter_sse(response)`` turn an event stream into events.
``client.websocket_connect("/ws")`` opens a WebSocket session (a context manager).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

import httpx  # aaf's 'testing' extra (pip install httpx)

from ._conformance import NO_RESPONSE, UNFINISHED, ASGIProtocolError
from ._testing_scopes import build_http_scope, build_websocket_scope
from ._testing_ws import (
    AsyncWebSocketSession,
    WebSocketDenied,
    WebSocketSession,
    aiter_sse,
    iter_sse,
)
from ._types import ASGIApp, Message, Scope
from .inspect import ConformanceChecker
from .lifespan import LifespanClient

__all__ = [
    "ASGIProtocolError",
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "TestClient",
    "WebSocketDenied",
    "WebSocketSession",
    "aiter_sse",
    "iter_sse",
]

T = TypeVar("T")
# The listeners of the connections in progress, by id() of their scope.
Listeners = dict[int, Callable[[ASGIProtocolError], None]]


# Violations found when the app returned: an HTTP client sees the connection close early.
_TRUNCATING_RULES = frozenset({UNFINISHED, NO_RESPONSE})


class _Exchange:
    """One request/response exchange with the app, running as a task on the app's loop.

    The client's ``ConformanceChecker`` (aaf.inspect) checks every message the app sends; it
    tells the exchange of a violation (``refuse``), which ends the exchange at once, like a
    server dropping the connection: the first violation is what the request call raises in
    the test, even when the app catches the error ``send()`` raised into it.
    """

    def __init__(
        self, app: ASGIApp, scope: Scope, body: AsyncIterator[bytes], listeners: Listeners
    ) -> None:
        self.app = app
        self.scope = scope
        self._listeners = listeners
        listeners[id(scope)] = self.refuse
        self._body = body
        self._body_done = False
        self._pending: bytes | None = None
        self.failure: BaseException | None = None  # what the test sees instead of a response
        self._failure_reported = False
        self.started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self.chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.complete = False
        self.disconnected = asyncio.Event()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        except BaseException as exc:
            if not self.started.done() and self.failure is None:
                self.started.set_exception(exc)  # the test sees the app's own error
            raise
        finally:
            self._listeners.pop(id(self.scope), None)
            if not self.started.done():
                self._fail(
                    httpx.RemoteProtocolError("the app returned without starting a response")
                )
            self.chunks.put_nowait(None)

    async def receive(self) -> Message:
        if not self._body_done:
            if self._pending is None:
                self._pending = await anext(self._body, b"")
            chunk, self._pending = self._pending, await anext(self._body, None)
            self._body_done = self._pending is None
            return {"type": "http.request", "body": chunk, "more_body": not self._body_done}
        # The body is over: the next event is the client going away (or the response ending).
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.started.set_result(
                {"status": message["status"], "headers": list(message.get("headers", []))}
            )
        elif self.disconnected.is_set():
            raise OSError("the client disconnected")
        elif kind == "http.response.body":
            body = message.get("body", b"")
            if body:
                self.chunks.put_nowait(body)
            if not message.get("more_body", False):
                self._end()
        elif kind == "http.response.pathsend":
            with open(message["path"], "rb") as file:  # noqa: ASYNC230 - test-only helper
                self.chunks.put_nowait(file.read())
            self._end()

    def _end(self) -> None:
        self.complete = True
        self.disconnected.set()

    def refuse(self, violation: ASGIProtocolError) -> None:
        """The checker found a violation: like a server, the connection is dropped at once.
        Found when the app returned (unfinished, no response), it is a truncated response."""
        if violation.rule in _TRUNCATING_RULES:
            self._fail(httpx.RemoteProtocolError(f"{violation} (the server closes the connection)"))
        else:
            self._fail(violation)

    def _fail(self, failure: BaseException) -> None:
        if self.failure is not None:
            return
        self.failure = failure
        if not self.started.done():
            self._failure_reported = True
            self.started.set_exception(failure)
        self.chunks.put_nowait(None)
        self.disconnected.set()

    def _raise_failure(self) -> None:
        if self.failure is not None:
            self._failure_reported = True
            raise self.failure

    async def next_chunk(self) -> bytes | None:
        """The next body chunk; None at the end. Raises the app's error if it failed."""
        if self._failure_reported:
            self._raise_failure()
        if self.complete and self.chunks.empty():
            await self._finish()
            return None
        chunk = await self.chunks.get()
        if chunk is None:
            self._raise_failure()  # after the chunks sent before the refused message
            await self._finish()
            if not self.complete:
                raise httpx.RemoteProtocolError(
                    "the app returned without finishing the response "
                    "(the server closes the connection)"
                )
            return None
        return chunk

    async def _finish(self) -> None:
        try:
            await self.task  # re-raises the app's exception, if any
        finally:
            self._raise_failure()  # ...unless a protocol violation came first

    async def close(self) -> None:
        """The client stops reading: tell the app, give it a moment, then cancel it."""
        self.disconnected.set()
        if not self.task.done():
            done, _ = await asyncio.wait({self.task}, timeout=5)
            if not done:
                self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        except Exception:
            if self.complete and self.failure is None:
                raise
        if not self._failure_reported:
            self._raise_failure()  # refused after the test stopped reading: still a bug


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self.exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.exchange.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self.exchange.close()


async def _request_body(request: httpx.Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream:  # type: ignore[union-attr]
        if chunk:
            yield chunk


async def _start_exchange(
    client: _InProcess, scope: Scope, body: AsyncIterator[bytes]
) -> tuple[_Exchange, Message]:
    exchange = _Exchange(client.app, scope, body, client.listeners)
    try:
        start = await exchange.started
    except BaseException:
        await exchange.close()
        raise
    return exchange, start


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        c = self.client
        scope = build_http_scope(request, c.root_path, c.client_address, c.app_state)
        exchange, start = await _start_exchange(c, scope, _request_body(request))
        return httpx.Response(
            start["status"], headers=start.get("headers", []), stream=_AsyncStream(exchange)
        )


class _InProcess:
    """What both clients keep about the app they call in-process.

    With ``check`` (the default) the app runs inside a ``ConformanceChecker`` (aaf.inspect), so
    every test is a conformance test: its violations go to the exchange, WebSocket session or
    lifespan of their connection (``listeners``, by scope), which fail the test with them.
    """

    def _attach(self, app: ASGIApp, root_path: str, client: tuple[str, int], check: bool) -> None:
        self.listeners: Listeners = {}
        self._lifespan_violation: ASGIProtocolError | None = None
        self.app: ASGIApp = (
            ConformanceChecker(app, on_violation=self._on_violation) if check else app
        )
        self.root_path = root_path
        self.client_address = client
        self.app_state: dict[str, Any] = {}  # the lifespan state, copied into each scope
        self._lifespan: LifespanClient | None = None

    def _on_violation(self, violation: ASGIProtocolError, scope: Scope) -> None:
        if scope.get("type") == "lifespan":
            # The lifespan client takes an app that fails at startup for one without
            # lifespan; the violation is raised in the test after startup() or shutdown().
            if self._lifespan_violation is None:
                self._lifespan_violation = violation
            return
        listener = self.listeners.get(id(scope))
        if listener is not None:
            listener(violation)

    def _raise_lifespan_violation(self) -> None:
        violation, self._lifespan_violation = self._lifespan_violation, None
        if violation is not None:
            raise violation

    def _websocket_scope(self, request: httpx.Request, subprotocols: list[str] | None) -> Scope:
        return build_websocket_scope(
            request, self.root_path, self.client_address, self.app_state, subprotocols or []
        )


class AsyncTestClient(_InProcess, httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that calls ``app`` in-process; ``async with`` runs the lifespan."""

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        check: bool = True,
        **kwargs: Any,
    ) -> None:
        self._attach(app, root_path, client, check)
        super().__init__(transport=_AsyncTransport(self), base_url=base_url, **kwargs)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> AsyncWebSocketSession:
        """``async with client.websocket_connect("/ws") as ws:`` - the handshake runs on enter;
        a refusal raises ``WebSocketDenied`` (status, headers, body). Waits are bounded by
        ``timeout`` seconds."""
        scope = self._websocket_scope(
            self.build_request("GET", path, headers=headers), subprotocols
        )
        return AsyncWebSocketSession(self.app, scope, timeout, self.listeners)

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        lifespan = LifespanClient("test client", self.app)
        if await lifespan.startup(self.app_state):
            self._lifespan = lifespan
        if self._lifespan_violation is not None:
            await self.__aexit__()  # shuts the app down; raises the violation
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        lifespan, self._lifespan = self._lifespan, None
        try:
            if lifespan is not None:
                await lifespan.shutdown()
            self._raise_lifespan_violation()
        finally:
            await super().__aexit__(exc_type, exc, tb)


# ------------------------------------------------------------------------ the sync client
class _Portal:
    """An event loop in a thread; the sync client runs the app there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.call(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, portal: _Portal, exchange: _Exchange, owns_portal: bool) -> None:
        self.portal = portal
        self.exchange = exchange
        self.owns_portal = owns_portal
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.portal.call(self.exchange.next_chunk())) is not None:
            yield chunk

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.portal.call(self.exchange.close())
        finally:
            if self.owns_portal:
                self.portal.close()


async def _replay(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        c = self.client
        body = request.read()
        scope = build_http_scope(request, c.root_path, c.client_address, c.app_state)
        owns_portal = c._portal is None
        portal = c._portal or _Portal()
        try:
            exchange, start = portal.call(_start_exchange(c, scope, _replay(body)))
        except BaseException:
            if owns_portal:
                portal.close()
            raise
        return httpx.Response(
            start["status"],
            headers=start.get("headers", []),
            stream=_SyncStream(portal, exchange, owns_portal),
        )


class TestClient(_InProcess, httpx.Client):
    """An ``httpx.Client`` that calls ``app`` in-process; ``with`` runs the lifespan.

    Outside a ``with`` block each request gets a short-lived event loop of its own.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        check: bool = True,
        **kwargs: Any,
    ) -> None:
        self._attach(app, root_path, client, check)
        self._portal: _Portal | None = None
        super().__init__(transport=_SyncTransport(self), base_url=base_url, **kwargs)

    def websocket_connect(
        self,
        path: str,
        subprotocols: list[str] | None = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> WebSocketSession:
        """``with client.websocket_connect("/ws") as ws:`` - the handshake runs on enter; a
        refusal raises ``WebSocketDenied`` (status, headers, body). Waits are bounded by
        ``timeout`` seconds. Outside ``with client:`` the session gets an event loop of its own.
        """
        scope = self._websocket_scope(
            self.build_request("GET", path, headers=headers), subprotocols
        )
        session = AsyncWebSocketSession(self.app, scope, timeout, self.listeners)
        if self._portal is not None:
            return WebSocketSession(session, self._portal.call)
        own = _Portal()
        return WebSocketSession(session, own.call, own.close)

    def __enter__(self) -> TestClient:
        super().__enter__()
        self._portal = _Portal()
        lifespan = LifespanClient("test client", self.app)
        try:
            if self._portal.call(lifespan.startup(self.app_state)):
                self._lifespan = lifespan
        except BaseException:
            self._portal.close()
            self._portal = None
            raise
        if self._lifespan_violation is not None:
            self.__exit__()  # shuts the app down; raises the violation
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        portal, self._portal = self._portal, None
        lifespan, self._lifespan = self._lifespan, None
        try:
            if portal is not None:
                try:
                    if lifespan is not None:
                        portal.call(lifespan.shutdown())
                    self._raise_lifespan_violation()
                finally:
                    portal.close()
        finally:
            super().__exit__(exc_type, exc, tb)
