"""WebSocket sessions and event-stream reading for the test clients (see ``aaf.testing``).

A session plays the server's part of the ASGI WebSocket protocol in-process: it sends
``websocket.connect``, waits for the app to accept or deny, then relays messages through two
queues. Every wait is bounded by the session's ``timeout``, so a test never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _json
from ._conformance import ASGIProtocolError
from ._types import ASGIApp, Message, Scope
from .sse import ServerSentEvent, SSEParser
from .websocket import WebSocketDisconnect

__all__ = [
    "AsyncWebSocketSession",
    "WebSocketDenied",
    "WebSocketSession",
    "aiter_sse",
    "iter_sse",
]

T = TypeVar("T")


class WebSocketDenied(Exception):
    """The app refused the handshake: ``status_code``, ``headers`` and ``body`` of its answer.

    A close before accept (no denial response) shows as 403 with an empty body, which is what
    servers answer in that case.
    """

    def __init__(self, status_code: int, headers: httpx.Headers, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.body = body
        super().__init__(f"the app denied the WebSocket handshake: {status_code} {body[:200]!r}")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return _json.decode(self.body)


class AsyncWebSocketSession:
    """The client side of one WebSocket: ``async with client.websocket_connect(path) as ws``."""

    def __init__(
        self,
        app: ASGIApp,
        scope: Scope,
        timeout: float,
        listeners: dict[int, Callable[[ASGIProtocolError], None]] | None = None,
    ) -> None:
        self.app = app
        # Where the client's conformance checker reports violations (by id() of the scope).
        self._listeners = listeners if listeners is not None else {}
        self.scope = scope
        self.timeout = timeout
        self.accepted_subprotocol: str | None = None
        self.accept_headers = httpx.Headers()
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._client_closed = False
        self._app_close: Message | None = None
        self._app_error: Exception | None = None

    # ------------------------------------------------------------------ the app's side
    async def _run_app(self) -> None:
        self._listeners[id(self.scope)] = self._refuse
        try:
            await self.app(self.scope, self._app_receive, self._app_send)
        except Exception as exc:
            if self._app_error is None:  # a protocol violation came first
                self._app_error = exc  # raised in the test by the next receive or at the end
        finally:
            self._listeners.pop(id(self.scope), None)
            self._from_app.put_nowait(None)

    def _refuse(self, violation: ASGIProtocolError) -> None:
        """The conformance checker refused a message: the test sees the violation next, as
        if the app had ended (it is told the client left when the session closes)."""
        if self._app_error is None:
            self._app_error = violation
            self._from_app.put_nowait(None)

    async def _app_receive(self) -> Message:
        message = await self._to_app.get()
        if message["type"] == "websocket.disconnect":
            self._to_app.put_nowait(message)  # every later receive() sees it again
        return message

    async def _app_send(self, message: Message) -> None:
        if self._client_closed:
            # What servers do (uvicorn: ClientDisconnected) when the peer is gone.
            raise OSError("the WebSocket client disconnected")
        self._from_app.put_nowait(message)

    # ------------------------------------------------------------------ handshake
    async def __aenter__(self) -> AsyncWebSocketSession:
        self._task = asyncio.get_running_loop().create_task(self._run_app())
        self._to_app.put_nowait({"type": "websocket.connect"})
        try:
            message = await self._next("the handshake answer")
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                await self._stop()
            raise
        if message is not None and message["type"] == "websocket.accept":
            self.accepted_subprotocol = message.get("subprotocol")
            self.accept_headers = httpx.Headers(message.get("headers") or [])
            return self
        denied = await self._denial(message)
        with contextlib.suppress(Exception):
            await self._stop()
        raise denied

    async def _denial(self, message: Message | None) -> Exception:
        if message is None:
            return RuntimeError("the app returned without accepting or denying the WebSocket")
        if message["type"] == "websocket.close":
            return WebSocketDenied(403, httpx.Headers(), b"")
        if message["type"] != "websocket.http.response.start":
            return RuntimeError(f"unexpected {message['type']!r} before the handshake ended")
        body = b""
        while True:
            part = await self._next("the denial response body")
            if part is None or part["type"] != "websocket.http.response.body":
                return RuntimeError("the denial response ended without its last body message")
            body += part.get("body", b"")
            if not part.get("more_body", False):
                break
        return WebSocketDenied(message["status"], httpx.Headers(message.get("headers", [])), body)

    async def _next(self, what: str) -> Message | None:
        """The app's next message; None once it returned. Re-raises the app's exception."""
        try:
            async with asyncio.timeout(self.timeout):
                message = await self._from_app.get()
        except TimeoutError:
            raise TimeoutError(
                f"the app sent nothing within {self.timeout}s (waiting for {what}); "
                "set session.timeout to wait longer"
            ) from None
        if message is None:
            self._from_app.put_nowait(None)  # stays over
            if self._app_error is not None:
                raise self._app_error
        return message

    # ------------------------------------------------------------------ messages
    async def send(self, message: Message) -> None:
        if self._client_closed or self._app_close is not None:
            raise WebSocketDisconnect(
                self._app_close.get("code", 1000) if self._app_close else 1000,
                "the WebSocket is closed; the session cannot send any more",
            )
        self._to_app.put_nowait(message)

    async def send_text(self, data: str) -> None:
        await self.send({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self.send({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any) -> None:
        await self.send_text(_json.encode(data).decode())

    async def receive(self) -> Message:
        """The app's next ``websocket.send``; WebSocketDisconnect when it closed the socket."""
        if self._app_close is not None:
            raise WebSocketDisconnect(self._app_close.get("code", 1000), "")
        message = await self._next("a message")
        if message is None:
            raise WebSocketDisconnect(1006, "the app returned without closing the WebSocket")
        if message["type"] == "websocket.close":
            self._app_close = message
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        if message["type"] != "websocket.send":
            raise RuntimeError(f"unexpected {message['type']!r} from the app")
        return message

    async def receive_text(self) -> str:
        message = await self.receive()
        text: str | None = message.get("text")
        if text is None:
            raise TypeError(f"expected a text message, got bytes: {message.get('bytes')!r:.200}")
        return text

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        data: bytes | None = message.get("bytes")
        if data is None:
            raise TypeError(f"expected a binary message, got text: {message.get('text')!r:.200}")
        return data

    async def receive_json(self) -> Any:
        message = await self.receive()
        payload = message.get("text")
        return _json.decode(payload if payload is not None else message.get("bytes") or b"")

    @property
    def close_code(self) -> int | None:
        """The code the app closed the socket with (None while it is open)."""
        return None if self._app_close is None else int(self._app_close.get("code", 1000))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Disconnect (as a client would) and wait for the app to finish."""
        if not self._client_closed:
            self._client_closed = True
            self._to_app.put_nowait(
                {"type": "websocket.disconnect", "code": code, "reason": reason}
            )
        await self._stop()

    async def _stop(self) -> None:
        """Let the app finish (bounded), then cancel it; re-raise its exception, if any."""
        task = self._task
        if task is None:
            return
        if not self._client_closed:
            self._client_closed = True
            self._to_app.put_nowait({"type": "websocket.disconnect", "code": 1000, "reason": ""})
        done, _ = await asyncio.wait({task}, timeout=self.timeout)
        if not done:
            task.cancel()
            await asyncio.wait({task})
            raise TimeoutError(f"the app did not return within {self.timeout}s of the disconnect")
        self._task = None
        if self._app_error is not None:
            raise self._app_error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        except Exception:
            if exc is None:
                raise  # otherwise the test's own error matters more


class WebSocketSession:
    """The sync flavour of :class:`AsyncWebSocketSession` (``TestClient.websocket_connect``)."""

    def __init__(
        self,
        session: AsyncWebSocketSession,
        call: Callable[[Coroutine[Any, Any, Any]], Any],
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._session = session
        self._call = call
        self._on_exit = on_exit

    @property
    def accepted_subprotocol(self) -> str | None:
        return self._session.accepted_subprotocol

    @property
    def accept_headers(self) -> httpx.Headers:
        return self._session.accept_headers

    @property
    def close_code(self) -> int | None:
        return self._session.close_code

    def __enter__(self) -> WebSocketSession:
        try:
            self._call(self._session.__aenter__())
        except BaseException:
            self._exit()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._call(self._session.__aexit__(exc_type, exc, tb))
        finally:
            self._exit()

    def _exit(self) -> None:
        on_exit, self._on_exit = self._on_exit, None
        if on_exit is not None:
            on_exit()

    def send(self, message: Message) -> None:
        self._call(self._session.send(message))

    def send_text(self, data: str) -> None:
        self._call(self._session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._call(self._session.send_bytes(data))

    def send_json(self, data: Any) -> None:
        self._call(self._session.send_json(data))

    def receive(self) -> Message:
        result: Message = self._call(self._session.receive())
        return result

    def receive_text(self) -> str:
        result: str = self._call(self._session.receive_text())
        return result

    def receive_bytes(self) -> bytes:
        result: bytes = self._call(self._session.receive_bytes())
        return result

    def receive_json(self) -> Any:
        return self._call(self._session.receive_json())

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._call(self._session.close(code, reason))


# ---------------------------------------------------------------------------- event streams
def iter_sse(response: httpx.Response) -> Iterator[ServerSentEvent]:
    """Events of a streamed ``text/event-stream`` response, as they arrive::

    with client.stream("GET", "/feed") as response:
        for event in iter_sse(response): ...
    """
    parser = SSEParser()
    for line in response.iter_lines():
        event = parser.feed(line)
        if event is not None:
            yield event


async def aiter_sse(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """The async flavour of :func:`iter_sse` (``AsyncTestClient.stream``)."""
    parser = SSEParser()
    async for line in response.aiter_lines():
        event = parser.feed(line)
        if event is not None:
            yield event
