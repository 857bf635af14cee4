"""WebSocket support for ``Connection``: the handshake, messages in and out, limits, closing.

A WebSocket handler gets the same ``Connection`` as an HTTP handler (``conn.type`` is
``ConnectionType.WEBSOCKET``); the methods below are mixed into it::

    @router.websocket("/chat/<room>")
    async def chat(conn, room):
        await conn.accept()
        async for text in conn.iter_text():
            await conn.send_text(text)

The connection moves through ``connecting -> connected -> closed | disconnected`` (or
``connecting -> denied``). Each method checks the state first and raises
:class:`WebSocketStateError` with the fix when it is called at the wrong time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _json
from ._draining import StopWatch, watch_signals
from ._http import HeadersLike, encode_headers
from ._ws_typed import decode_message, no_message_type, unexpected_send_type
from .limits import DEFAULT_LIMITS
from .response import BaseResponse, HttpResponse

if TYPE_CHECKING:
    from ._types import Message, Receive, Scope, Send

__all__ = [
    "WebSocketDataError",
    "WebSocketDisconnect",
    "WebSocketMixin",
    "WebSocketState",
    "WebSocketStateError",
]

# Close codes (RFC 6455 section 7.4.1) the app sends itself.
NORMAL_CLOSURE = 1000
GOING_AWAY = 1001
UNSUPPORTED_DATA = 1003
NO_STATUS = 1005
ABNORMAL_CLOSURE = 1006
INVALID_PAYLOAD = 1007
POLICY_VIOLATION = 1008
MESSAGE_TOO_BIG = 1009
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013

# Connection._resp_state of a WebSocket: HTTP response methods refuse it with a clear error.
RESPONSE_IS_WEBSOCKET = 3

# A close frame carries at most 125 bytes: a 2-byte code and a 123-byte UTF-8 reason.
MAX_REASON_BYTES = 123
_DENIAL_EXTENSION = "websocket.http.response"
STOPPING_REASON = "server shutting down"


class WebSocketState(StrEnum):
    CONNECTING = "connecting"  # the handler has not accepted (or denied) yet
    CONNECTED = "connected"  # accepted: messages flow both ways
    CLOSED = "closed"  # the app closed the socket
    DISCONNECTED = "disconnected"  # the client went away (or the server lost it)
    DENIED = "denied"  # refused before accept (HTTP denial response or close)


class WebSocketDisconnect(Exception):
    """The WebSocket is over: the client left, or the app closed it (``code``, ``reason``).

    ``receive_*`` raise it when the client disconnects (``iter_*`` simply end instead);
    ``send_*`` raise it when the client is already gone.
    """

    def __init__(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(code, reason)

    def __str__(self) -> str:
        return f"WebSocket closed with code {self.code}" + (
            f": {self.reason}" if self.reason else ""
        )


class WebSocketStateError(RuntimeError):
    """A WebSocket method was called at the wrong time (send before accept, after close...)."""


class WebSocketDataError(ValueError):
    """A message the handler asked for cannot be given (wrong frame type, invalid JSON).

    Catch it to answer the client yourself; left uncaught, the app closes the socket with
    ``close_code`` (1003 unsupported data, 1007 invalid payload) - a client error, not a
    server error, so it is not logged as one.
    """

    def __init__(self, message: str, close_code: int) -> None:
        super().__init__(message)
        self.close_code = close_code


def _too_big(message: Message, limit: int) -> bool:
    text: str | None = message.get("text")
    if text is not None:
        length = len(text)
        # PERF: n characters are n..4n UTF-8 bytes; encode only when that range straddles the
        # limit (never for the usual small messages).
        return length > limit or (
            length * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit
        )
    data: bytes | None = message.get("bytes")
    return data is not None and len(data) > limit


def clip_reason(reason: str) -> str:
    """``reason`` cut to the 123 UTF-8 bytes a close frame can carry (whole characters)."""
    encoded = reason.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[:MAX_REASON_BYTES].decode("utf-8", "ignore")


def check_close_code(code: int) -> int:
    # RFC 6455 7.4: 1004-1006 and 1015 must never be sent; 1012-1014 are server-side codes;
    # 3000-4999 belong to libraries and applications.
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        raise ValueError(
            f"WebSocket close code {code} cannot be sent; use 1000 (normal), 1001, 1003, "
            "1007-1011, or an application code in 3000-4999"
        )
    return code


def _not_a_websocket() -> WebSocketStateError:
    return WebSocketStateError(
        "this is an HTTP request, not a WebSocket: accept/receive_*/send_text/... are "
        "for @router.websocket handlers; answer HTTP with a response or conn.send()"
    )


def _data(message: Message) -> Message:
    """``message`` if it carries data; WebSocketDisconnect if it is the end of the socket."""
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", NO_STATUS), message.get("reason") or "")
    return message


_CONNECTED = WebSocketState.CONNECTED
T = TypeVar("T")


class _WebSocket:
    """Per-socket state, created by the app when it routes a WebSocket scope."""

    __slots__ = ("close_code", "close_reason", "limit", "state", "stop", "subprotocol")

    def __init__(self, limit: int) -> None:
        self.state = WebSocketState.CONNECTING
        self.limit = limit
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self.stop: StopWatch | None = None  # closes it with 1001 when the server stops

    def ended(self) -> None:
        if self.stop is not None:
            self.stop.cancel()


class WebSocketMixin:
    """The WebSocket half of ``Connection`` (mixed in; see ``aaf.connection``)."""

    __slots__ = ("_ws",)

    # Provided by Connection.
    scope: Scope
    asgi_receive: Receive
    _server_send: Send
    _ws: _WebSocket
    on_finish: Callable[[Callable[[], Any]], None]

    def _begin_websocket(self, message_limit: int) -> None:
        """Mark this connection as a WebSocket (the app does this when it routes one)."""
        self._ws = _WebSocket(message_limit)

    def _track_websocket(self, kind: str) -> None:
        """Keep the state in step with what another ASGI app sent through ``conn.asgi_send``
        (a take-over), so aaf neither refuses nor closes a socket that app handled."""
        ws: _WebSocket | None = getattr(self, "_ws", None)
        if ws is None:
            return
        if kind == "websocket.accept":
            ws.state = WebSocketState.CONNECTED
        elif kind == "websocket.close":
            connected = ws.state == WebSocketState.CONNECTED
            ws.state = WebSocketState.CLOSED if connected else WebSocketState.DENIED
        elif kind == "websocket.http.response.start":
            ws.state = WebSocketState.DENIED

    def _websocket(self) -> _WebSocket:
        try:
            return self._ws
        except AttributeError:
            if self.scope["type"] != "websocket":
                raise _not_a_websocket() from None
        # A connection built by hand on a WebSocket scope (a plain ASGI app, as in the seed
        # article): it becomes a WebSocket on first use, with the default message limit.
        self._begin_websocket(DEFAULT_LIMITS.websocket_message)
        return self._ws

    # ------------------------------------------------------------------ handshake
    @property
    def ws_state(self) -> WebSocketState:
        return self._websocket().state

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or ())

    @property
    def accepted_subprotocol(self) -> str | None:
        return self._websocket().subprotocol

    async def accept(
        self, subprotocol: str | None = None, headers: HeadersLike | None = None
    ) -> None:
        """Complete the handshake, optionally choosing one of the client's subprotocols."""
        ws = self._websocket()
        if ws.state != WebSocketState.CONNECTING:
            raise WebSocketStateError(
                f"cannot accept: the WebSocket is {ws.state}; call accept() once, first"
            )
        if subprotocol is not None and subprotocol not in self.subprotocols:
            offered = ", ".join(map(repr, self.subprotocols)) or "none"
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client (offered: {offered}); "
                "pick one from conn.subprotocols"
            )
        # APPSEC: validated now, so a CR/LF in a header never reaches the server.
        raw_headers = encode_headers(headers) if headers else []
        message = await self.asgi_receive()
        if message["type"] == "websocket.disconnect":
            self._client_left(ws, message)
            raise WebSocketDisconnect(ws.close_code or NO_STATUS, ws.close_reason)
        if message["type"] != "websocket.connect":
            raise RuntimeError(
                f"expected websocket.connect from the server, got {message['type']!r}"
            )
        accept: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if raw_headers:
            accept["headers"] = raw_headers
        await self._server_send(accept)
        ws.state = WebSocketState.CONNECTED
        ws.subprotocol = subprotocol
        if getattr(getattr(self, "app", None), "close_on_shutdown", False):
            # Closed with 1001 as the server stops (aaf._draining), also without lifespan.
            watch_signals()
            ws.stop = StopWatch(
                lambda: self._send_close(ws, GOING_AWAY, STOPPING_REASON),
                # daphne's autobahn refuses 1001 from a server (1000 or 3000-4999 only).
                lambda: self._send_close(ws, NORMAL_CLOSURE, STOPPING_REASON),
            )
            self.on_finish(ws.stop.finish)

    async def deny(self, response: BaseResponse | int = 403) -> None:
        """Refuse the handshake with an HTTP response (``403`` or any response object).

        Servers that support the ``websocket.http.response`` extension send it as is; others
        close the socket and answer 403 themselves.
        """
        ws = self._websocket()
        if ws.state != WebSocketState.CONNECTING:
            raise WebSocketStateError(
                f"cannot deny: the WebSocket is already {ws.state}; after accept() use "
                "close(code) instead"
            )
        if isinstance(response, int):
            response = HttpResponse(b"", response)
        ws.state = WebSocketState.DENIED
        if _DENIAL_EXTENSION not in (self.scope.get("extensions") or {}):
            ws.close_code = POLICY_VIOLATION
            await self._server_send(
                {"type": "websocket.close", "code": POLICY_VIOLATION, "reason": ""}
            )
            return
        send = self._server_send

        async def as_denial(message: Message) -> None:
            # The same messages as an HTTP response, in the extension's namespace.
            await send({**message, "type": "websocket." + message["type"]})

        await response.emit(self.scope, as_denial)

    async def _end_handler(self, result: object) -> None:
        """What a WebSocket handler's return means: a response returned before ``accept()``
        refuses with it, returning without accepting refuses (403), an open socket is closed."""
        ws = self._websocket()
        if isinstance(result, BaseResponse) and ws.state == WebSocketState.CONNECTING:
            await self.deny(result)
        elif result is not None:
            raise TypeError(
                f"WebSocket handler returned {type(result).__name__}; return None, or a "
                "response before accept() to refuse the handshake"
            )
        if ws.state == WebSocketState.CONNECTING:
            await self.deny(403)
        elif ws.state == WebSocketState.CONNECTED:
            await self.close()

    # ------------------------------------------------------------------ receiving
    def _client_left(self, ws: _WebSocket, message: Message) -> None:
        ws.ended()
        ws.state = WebSocketState.DISCONNECTED
        ws.close_code = message.get("code", NO_STATUS)
        ws.close_reason = message.get("reason") or ""

    def _cannot_receive(self, ws: _WebSocket) -> Exception:
        if ws.stop is not None and ws.stop.stopped:
            return WebSocketDisconnect(GOING_AWAY, STOPPING_REASON)  # ends quietly, as a leave
        if ws.state == WebSocketState.CONNECTING:
            return WebSocketStateError(
                "cannot receive before the handshake: await conn.accept() first"
            )
        return WebSocketStateError(
            f"cannot receive: the WebSocket is {ws.state} (code {ws.close_code}). Stop when "
            "receive_* raises WebSocketDisconnect, or use iter_text()/iter_bytes()/iter_json(), "
            "which end by themselves"
        )

    async def receive(self) -> Message:
        """The next raw ASGI event: ``websocket.receive`` or ``websocket.disconnect``.

        A message over ``limits.max_websocket_message`` is never returned: the socket is closed
        with 1009 and a ``websocket.disconnect`` event with that code is returned instead.
        """
        ws = self._websocket()
        if ws.state is not _CONNECTED:
            raise self._cannot_receive(ws)
        return await self._screen(ws, await self.asgi_receive())

    async def _screen(self, ws: _WebSocket, message: Message) -> Message:
        """Check one event from the server: enforce the size limit, note a disconnect."""
        kind = message["type"]
        if kind == "websocket.receive":
            if _too_big(message, ws.limit):
                reason = f"message larger than the {ws.limit}-byte limit"
                await self._send_close(ws, MESSAGE_TOO_BIG, reason)
                return {"type": "websocket.disconnect", "code": MESSAGE_TOO_BIG, "reason": reason}
            return message
        if kind == "websocket.disconnect":
            self._client_left(ws, message)
            return message
        raise RuntimeError(f"unexpected ASGI message {kind!r} on a WebSocket")

    async def _receive_data(self) -> Message:
        """The next ``websocket.receive`` message; WebSocketDisconnect when the socket ends."""
        return _data(await self.receive())

    async def receive_text(self) -> str:
        """The next text message (1003 ``WebSocketDataError`` if the client sent binary)."""
        try:
            ws = self._ws
        except AttributeError:
            raise _not_a_websocket() from None
        if ws.state is not _CONNECTED:
            raise self._cannot_receive(ws)
        message = await self.asgi_receive()
        text: str | None = message.get("text")
        # PERF: the usual message (text, far below the limit) skips the general checks.
        if (
            text is not None
            and len(text) * 4 <= ws.limit
            and message["type"] == "websocket.receive"
        ):
            return text
        checked: str | None = _data(await self._screen(ws, message)).get("text")
        if checked is None:
            raise WebSocketDataError("expected a text message, got a binary one", UNSUPPORTED_DATA)
        return checked

    async def receive_bytes(self) -> bytes:
        """The next binary message (1003 ``WebSocketDataError`` if the client sent text)."""
        message = await self._receive_data()
        data: bytes | None = message.get("bytes")
        if data is None:
            raise WebSocketDataError("expected a binary message, got a text one", UNSUPPORTED_DATA)
        return data

    async def receive_json(self) -> Any:
        """The next message (text or binary) decoded as JSON (1007 ``WebSocketDataError``)."""
        message = await self._receive_data()
        payload = message.get("text")
        if payload is None:
            payload = message.get("bytes") or b""
        try:
            return _json.decode(payload)
        except _json.DecodeError as exc:
            raise WebSocketDataError(f"invalid JSON: {exc}", INVALID_PAYLOAD) from None

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client disconnects (then the loop simply ends)."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            return

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            return

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            return

    # ------------------------------------------------------------------ typed messages
    # One block (issue 10): messages decoded into / encoded from types with msgspec; the
    # route's receives=/sends= (conn.route.doc) are the defaults. See docs/asyncapi.md.
    @overload
    async def receive_as(self, message_type: type[T], /) -> T: ...
    @overload
    async def receive_as(self, message_type: Any = None, /) -> Any: ...  # unions, list[...]
    async def receive_as(self, message_type: Any = None, /) -> Any:
        """The next message (text or binary JSON) decoded into ``message_type`` (default: the
        route's ``receives=``). A message that does not decode or validate raises
        ``WebSocketDataError`` (1007, the reason names the field, e.g. ``$.text: Expected
        `str`, got `int```); left uncaught, the app closes the socket with it."""
        if message_type is None:
            message_type = self._route_doc_type("receives")
            if message_type is None:
                raise no_message_type("receive_as() / iter_as()", "receives")
        # The size limit is enforced by receive() (1009) before any decoding.
        message = await self._receive_data()
        payload = message.get("text")
        if payload is None:
            payload = message.get("bytes") or b""
        try:
            return decode_message(message_type, payload)
        except ValueError as exc:
            raise WebSocketDataError(str(exc), INVALID_PAYLOAD) from None

    @overload
    def iter_as(self, message_type: type[T], /) -> AsyncIterator[T]: ...
    @overload
    def iter_as(self, message_type: Any = None, /) -> AsyncIterator[Any]: ...  # unions...
    async def iter_as(self, message_type: Any = None, /) -> AsyncIterator[Any]:
        """Typed messages (see :meth:`receive_as`) until the client disconnects."""
        try:
            while True:
                yield await self.receive_as(message_type)
        except WebSocketDisconnect:
            return

    async def send_as(self, message: Any) -> None:
        """Send ``message`` (a msgspec Struct, dataclass, attrs, dict ...) as a JSON text message.

        When the route declares ``sends=`` as a class (or a union of classes), a message of
        another type is a server bug: ``TypeError`` (the app closes with 1011).
        """
        declared = self._route_doc_type("sends")
        if declared is not None:
            problem = unexpected_send_type(declared, message)
            if problem is not None:
                raise TypeError(problem)
        await self._send_message({"type": "websocket.send", "text": _json.encode(message).decode()})

    def _route_doc_type(self, which: str) -> Any:
        # conn.route is an aaf.routing.Route (its .doc a RouteDoc) or None for a hand-built
        # connection; read by name since routing sits above this module.
        doc = getattr(getattr(self, "route", None), "doc", None)
        return getattr(doc, which, None)

    # ------------------------------------------------------------------ sending
    def _cannot_send(self, ws: _WebSocket) -> Exception:
        if ws.stop is not None and ws.stop.stopped:
            return WebSocketDisconnect(GOING_AWAY, STOPPING_REASON)
        if ws.state == WebSocketState.DISCONNECTED:
            return WebSocketDisconnect(ws.close_code or NO_STATUS, ws.close_reason)
        if ws.state == WebSocketState.CONNECTING:
            return WebSocketStateError(
                "cannot send before the handshake: await conn.accept() first"
            )
        return WebSocketStateError(
            f"cannot send: the WebSocket is {ws.state} (code {ws.close_code}); send everything "
            "before close()"
        )

    def _lost(self, ws: _WebSocket) -> WebSocketDisconnect:
        # Servers raise an OSError (uvicorn: ClientDisconnected) from send() once the peer is gone.
        ws.ended()
        ws.state = WebSocketState.DISCONNECTED
        ws.close_code = ws.close_code or ABNORMAL_CLOSURE
        return WebSocketDisconnect(ws.close_code)

    async def _send_message(self, message: Message) -> None:
        ws = self._websocket()
        if ws.state is not _CONNECTED:
            raise self._cannot_send(ws)
        try:
            await self._server_send(message)
        except OSError:
            raise self._lost(ws) from None

    async def send_text(self, data: str) -> None:
        # PERF: written out (not via _send_message): chat-style apps call this the most.
        try:
            ws = self._ws
        except AttributeError:
            raise _not_a_websocket() from None
        if ws.state is not _CONNECTED:
            raise self._cannot_send(ws)
        try:
            await self._server_send({"type": "websocket.send", "text": data})
        except OSError:
            raise self._lost(ws) from None

    async def send_bytes(self, data: bytes) -> None:
        await self._send_message({"type": "websocket.send", "bytes": bytes(data)})

    async def _send_ws_json(self, data: Any) -> None:
        await self._send_message({"type": "websocket.send", "text": _json.encode(data).decode()})

    # ------------------------------------------------------------------ closing
    async def _send_close(self, ws: _WebSocket, code: int, reason: str) -> None:
        ws.ended()
        ws.state = WebSocketState.CLOSED
        ws.close_code = code
        ws.close_reason = reason = clip_reason(reason)
        try:
            await self._server_send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            ws.state = WebSocketState.DISCONNECTED  # the client left first: nothing to close
            ws.ended()

    async def close(self, code: int = NORMAL_CLOSURE, reason: str = "") -> None:
        """Close the socket; before ``accept()`` this refuses the handshake (like ``deny()``).

        Closing a socket that is already closed or disconnected does nothing.
        """
        check_close_code(code)
        if len(reason.encode("utf-8", "surrogatepass")) > MAX_REASON_BYTES:
            raise ValueError(f"a close reason is at most {MAX_REASON_BYTES} UTF-8 bytes")
        ws = self._websocket()
        if ws.state == WebSocketState.CONNECTING:
            await self.deny(403)
        elif ws.state == WebSocketState.CONNECTED:
            await self._send_close(ws, code, reason)
