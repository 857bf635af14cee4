"""The HTTP-response half of ``Connection``: status and headers, imperative sends, whole
responses and returned results, guarded by a small state machine (not started -> started ->
finished) whose errors say what went wrong and how to fix it.

Every message the connection sends goes through ``_send`` (or, on the app's fast path, the
same conversion written beside it): it keeps the state in step with what was sent and turns the
``OSError`` an ASGI 2.4 server raises for a client that left into :class:`ClientDisconnect`.
A mixin with no state of its own: its slots are declared on ``Connection``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Unpack

import msgspec

from . import _json
from ._http import encode_header, sends_body, start_message
from .cookies import CookieOptions, build_set_cookie
from .errors import ClientDisconnect, ResponseStateError
from .response import BaseResponse
from .websocket import RESPONSE_IS_WEBSOCKET

if TYPE_CHECKING:
    from ._disconnect import DisconnectWatcher
    from ._types import Message, RawHeaders, Scope, Send

__all__ = [
    "EARLY_HINT_EXTENSION",
    "FINISHED",
    "NOT_STARTED",
    "STARTED",
    "HTTPResponseMixin",
    "client_gone",
    "is_typed_object",
]

# Response states (a WebSocket connection is RESPONSE_IS_WEBSOCKET, see aaf.websocket).
NOT_STARTED = 0
STARTED = 1
FINISHED = 2

JSON_TYPE = b"application/json"
TEXT_TYPE = b"text/plain; charset=utf-8"
BYTES_TYPE = b"application/octet-stream"
_TYPE_BY_CHUNK = {str: TEXT_TYPE, bytes: BYTES_TYPE}

# The ASGI extension a server lists in scope["extensions"] when it can send 103 Early Hints
# (hypercorn does on HTTP/2 and HTTP/3); the message carries Link header values only.
EARLY_HINT_EXTENSION = "http.response.early_hint"


def is_typed_object(value: Any) -> bool:
    """A msgspec Struct, dataclass or attrs instance: what msgspec encodes as a JSON object."""
    return (
        isinstance(value, msgspec.Struct)
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
        or hasattr(type(value), "__attrs_attrs__")
    )


def client_gone(exc: OSError) -> ClientDisconnect:
    """What an ``OSError`` from the server's ``send()`` means: the client left (ASGI 2.4).

    Nobody is listening any more: the app ends quietly rather than logging a server error.
    """
    gone = ClientDisconnect("the client disconnected during the response")
    gone.__cause__ = exc
    return gone


class HTTPResponseMixin:
    """Sending the HTTP response (mixed into ``Connection``)."""

    # The slots of this half are declared once, on Connection. mypy checks assignments
    # against a class's own __slots__, so it is shown this mixin without any.
    if not TYPE_CHECKING:
        __slots__ = ()

    # Provided by Connection.
    scope: Scope
    resp_status_code: int
    _server_send: Send
    _resp_state: int
    _resp_headers: RawHeaders | None

    if TYPE_CHECKING:

        def _not_http(self, what: str) -> ResponseStateError: ...

        def _track_websocket(self, kind: str) -> None: ...

        async def _response_watcher(self) -> DisconnectWatcher | None: ...

        async def _send_ws_json(self, data: Any) -> None: ...

    @property
    def started(self) -> bool:
        return self._resp_state != NOT_STARTED

    @property
    def finished(self) -> bool:
        return self._resp_state == FINISHED

    # ------------------------------------------------------------------ headers
    def put_resp_header(self, name: str, value: str) -> None:
        """Add a response header (validated now: CR/LF/NUL raise before anything is sent).

        A ``content-type`` put here replaces the type of a response object returned later.
        """
        if self._resp_state != NOT_STARTED:
            if self._resp_state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http(f"put_resp_header({name!r})")
            raise ResponseStateError(
                f"cannot set header {name!r}: the response already started, and headers go out "
                "with the first send. Set headers before the first conn.send()."
            )
        pair = encode_header(name, value)
        if self._resp_headers is None:
            self._resp_headers = [pair]
        else:
            self._resp_headers.append(pair)

    def put_resp_cookie(self, key: str, value: str = "", **options: Unpack[CookieOptions]) -> None:
        """Add a ``Set-Cookie`` header; unsafe values raise ``CookieError`` right away.

        Options: ``max_age``, ``expires``, ``path`` ("/"), ``domain``, ``secure``, ``httponly``,
        ``samesite`` ("lax"), ``partitioned`` (see ``aaf.cookies.build_set_cookie``).
        """
        self.put_resp_header("set-cookie", build_set_cookie(key, value, **options))

    def delete_resp_cookie(self, key: str, *, path: str = "/", domain: str | None = None) -> None:
        self.put_resp_cookie(key, "", max_age=0, expires=0, path=path, domain=domain)

    # ------------------------------------------------------------------ 103 Early Hints
    async def early_hints(self, headers: Iterable[tuple[str, str]]) -> bool:
        """Send a 103 Early Hints response with these ``Link`` headers, before the response.

        ``await conn.early_hints([("link", "</style.css>; rel=preload; as=style")])``: the
        browser may start fetching while the handler is still working. Sent only when the server
        advertises the ``http.response.early_hint`` extension; elsewhere it is a no-op. Returns
        whether the hints went out. The headers are checked either way, so a mistake shows up
        under every server; put the same links on the final response for clients that never
        see a 103.
        """
        if self._resp_state != NOT_STARTED:
            if self._resp_state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http("conn.early_hints()")
            raise ResponseStateError(
                "cannot send early hints: the response already started, and a 103 must come "
                "before it. Call conn.early_hints() before the first send or return."
            )
        links: list[bytes] = []
        for name, value in headers:
            encoded_name, encoded_value = encode_header(name, value)
            if encoded_name != b"link":
                raise ValueError(
                    f"early hints carry Link headers only (the ASGI extension sends links), "
                    f"not {name!r}; pass [('link', '</style.css>; rel=preload; as=style')]"
                )
            links.append(encoded_value)
        extensions = self.scope.get("extensions") or {}
        if not links or EARLY_HINT_EXTENSION not in extensions:
            return False
        try:
            # Straight to the server: a 103 leaves the response state as it was.
            await self._server_send({"type": EARLY_HINT_EXTENSION, "links": links})
        except OSError as exc:
            raise client_gone(exc) from exc
        return True

    # ------------------------------------------------------------------ the one way out
    @property
    def asgi_send(self) -> Send:
        """The server's ``send``, as a handler hands it to another ASGI app.

        ``await other_app(conn.scope, conn.asgi_receive, conn.asgi_send)``: what that app sends
        keeps this connection's state in step, so aaf sends no second response after it.
        """
        return self._send

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not message.get("more_body", False):
                self._resp_state = FINISHED
        elif kind == "http.response.start":
            self._resp_state = STARTED
            self.resp_status_code = message["status"]
        elif kind == "http.response.pathsend":
            self._resp_state = FINISHED
        else:
            self._track_websocket(kind)
        try:
            await self._server_send(message)
        except OSError as exc:
            raise client_gone(exc) from exc

    def _claim(self, what: str) -> RawHeaders | None:
        """Check that a one-shot sender may answer; returns the headers put on the connection."""
        state = self._resp_state
        if state != NOT_STARTED:
            if state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http(f"sending {what}")
            if state == FINISHED:
                raise ResponseStateError(
                    f"cannot send {what}: this connection's response was already sent. "
                    "Send one response per request."
                )
            raise ResponseStateError(
                f"cannot send {what}: a response was already started with conn.send(). "
                "Keep using conn.send(...) and end it with conn.finish()."
            )
        return self._resp_headers

    # ------------------------------------------------------------------ imperative
    async def send(self, data: str | bytes = b"", finish: bool = False) -> None:
        """Send a chunk of the response body, starting the response on the first call.

        ``finish=True`` ends the response; a response that starts and finishes in one call gets
        a Content-Length. Status and headers must be set before the first call. On HEAD and
        on 1xx/204/304 answers the body is dropped (the headers still go out).
        """
        if self._resp_state >= FINISHED:
            if self._resp_state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http("conn.send()")
            raise ResponseStateError(
                "cannot send: the response is already finished (conn.finish() or "
                "send(..., finish=True) was called). Send everything before finishing."
            )
        body = data.encode() if isinstance(data, str) else data
        head = self.scope.get("method") == "HEAD"
        if self._resp_state == NOT_STARTED:
            # An empty finished response (a redirect, a 204) gets no content type.
            default_type = _TYPE_BY_CHUNK.get(type(data)) if body or not finish else None
            length = len(body) if finish else None
            headers = self._resp_headers or []
            start, keep = start_message(
                self.resp_status_code, head, headers, None, length, default_type
            )
            await self._send(start)
        else:
            keep = sends_body(self.resp_status_code, head)
        if not keep:
            if not finish:
                return
            body = b""
        await self._send({"type": "http.response.body", "body": body, "more_body": not finish})

    async def finish(self) -> None:
        """End the response (starting an empty one if nothing was sent yet)."""
        if self._resp_state == FINISHED:
            raise ResponseStateError(
                "cannot finish: the response is already finished; call finish() once"
            )
        await self.send(b"", finish=True)

    # ------------------------------------------------------------------ whole responses
    async def send_json(self, data: Any, status_code: int | None = None) -> None:
        """Send ``data`` as a whole JSON response (on a WebSocket: as one text message)."""
        if self._resp_state == RESPONSE_IS_WEBSOCKET and status_code is None:
            await self._send_ws_json(data)
            return
        if status_code is not None:
            self.resp_status_code = status_code
        await self.send_whole(JSON_TYPE, _json.encode(data))

    async def send_whole(self, content_type: bytes, body: bytes) -> None:
        """Send a complete response (status ``resp_status_code``) in one go."""
        start, last = self.whole_response(content_type, body)
        await self._send(start)
        await self._send(last)

    def whole_response(self, content_type: bytes, body: bytes) -> tuple[Message, Message]:
        """The two ASGI messages of a complete response; the response counts as sent.

        PERF: a plain function (not a coroutine) so the app can await ``send`` itself.
        """
        if self._resp_state != NOT_STARTED:
            self._claim("a response")  # raises
        self._resp_state = FINISHED
        start, keep = start_message(
            self.resp_status_code,
            self.scope.get("method") == "HEAD",
            self._resp_headers or [],
            None,
            len(body),
            content_type,
        )
        return start, {"type": "http.response.body", "body": body if keep else b""}

    # ------------------------------------------------------------------ returned results
    async def respond(self, result: Any) -> None:
        """Send what a handler returned: a response object, a dict or list (JSON), a str
        (text), bytes, None (nothing more if a response was sent, else an empty answer), or a
        msgspec Struct, dataclass or attrs instance (JSON, encoded by msgspec)."""
        if isinstance(result, BaseResponse):
            await self._send_response(result)
        elif isinstance(result, dict | list):
            await self.send_whole(JSON_TYPE, _json.encode(result))
        elif isinstance(result, str):
            await self.send_whole(TEXT_TYPE, result.encode())
        elif isinstance(result, bytes | bytearray | memoryview):
            await self.send_whole(BYTES_TYPE, bytes(result))
        elif result is None:
            await self._answer_none()
        elif is_typed_object(result):
            await self.send_whole(JSON_TYPE, _json.encode(result))
        else:
            raise TypeError(
                f"handler returned {type(result).__name__}; return a response, dict, list, "
                "str, bytes, None, or a msgspec Struct, dataclass or attrs instance"
            )

    async def _answer_none(self) -> None:
        """A handler returned None: finish what it started, or answer empty - 204 unless it
        chose another status."""
        if self._resp_state == NOT_STARTED:
            if self.resp_status_code == 200:
                self.resp_status_code = 204
            await self.send(b"", finish=True)
        elif self._resp_state == STARTED:
            await self.send(b"", finish=True)

    async def _send_response(self, response: BaseResponse) -> None:
        extra = self._claim(type(response).__name__)
        watcher = await self._response_watcher() if response.needs_watcher else None
        try:
            await response.emit(self.scope, self._send, extra, watcher)
        except BaseException:
            if self._resp_state == STARTED:
                self._resp_state = FINISHED  # a failed stream cannot be restarted
            raise
