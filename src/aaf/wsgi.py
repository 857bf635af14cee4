"""Serve a WSGI application (Flask, Django, ...) inside an aaf app, through a2wsgi.

    from aaf.wsgi import WSGIApp
    router.mount("/legacy", WSGIApp(flask_app))

The WSGI app runs in a2wsgi's worker threads; ``SCRIPT_NAME`` is the mount prefix and
``PATH_INFO`` the rest, so the WSGI framework builds its URLs under the prefix. The request
body is capped (``max_body_size``): a larger ``Content-Length`` is answered 413 before the WSGI
app runs. A body that grows past the cap while streaming (chunked, or longer than declared) is
not read further: the client gets a 413 and whatever the WSGI app answers is dropped; if the
app had already started its response, that response is abandoned unfinished (the server closes
the connection), never completed as if the body had been whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote_from_bytes

from .limits import MiB

if TYPE_CHECKING:
    from ._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["WSGIApp"]

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_QUERY_SAFE = "&=+%;/?:@,$!*'()~"
_TOO_LARGE = b"Request body too large"
_TOO_LARGE_HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"22")]


class WSGIApp:
    """An ASGI app wrapping the WSGI ``app`` (a2wsgi's ``WSGIMiddleware`` underneath).

    Args:
        workers: threads running the WSGI app (its concurrency).
        send_queue_size: response chunks buffered between the WSGI thread and the event loop.
        max_body_size: the largest request body passed on (bytes); None for no limit.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        workers: int = 10,
        send_queue_size: int = 10,
        max_body_size: int | None = 16 * MiB,
    ) -> None:
        try:
            from a2wsgi import WSGIMiddleware
        except ImportError as exc:  # the 'wsgi' extra
            raise ImportError(
                "WSGIApp needs a2wsgi: pip install a2wsgi (aaf's 'wsgi' extra)"
            ) from exc
        self.app = app
        self.max_body_size = max_body_size
        # a2wsgi types its own ASGI messages (TypedDicts); to aaf it is a plain ASGI app.
        adapter: Any = WSGIMiddleware(
            cast(Any, app), workers=workers, send_queue_size=send_queue_size
        )
        self._adapter: ASGIApp = adapter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._adapter(scope, receive, send)  # lifespan answered, WebSocket closed
            return
        query: bytes = scope.get("query_string", b"")
        if not query.isascii():
            # a2wsgi decodes QUERY_STRING as ASCII; a raw non-ASCII byte would be a 500.
            scope = {**scope, "query_string": quote_from_bytes(query, _QUERY_SAFE).encode()}
        limit = self.max_body_size
        if limit is not None:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                await _send_too_large(send)
                return
            cap = _BodyCap(receive, send, limit)
            receive, send = cap.receive, cap.send
        await self._adapter(scope, receive, send)


async def _send_too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413, "headers": list(_TOO_LARGE_HEADERS)})
    await send({"type": "http.response.body", "body": _TOO_LARGE})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # APPSEC: ASCII digits only; anything else is left for the WSGI app to refuse.
            return int(value) if value.isdigit() and len(value) <= 19 else None
    return None


class _BodyCap:
    """One request's body limit, between a2wsgi and the server.

    Past ``limit`` bytes the body ends for the WSGI app (it reads a disconnect, i.e. EOF) and
    no more is read. The client gets a 413 when the app's response has not started, and from
    then on every message the app sends is dropped: a response started before the cap was
    crossed stays unfinished, so the server closes the connection.
    """

    __slots__ = ("_receive", "_send", "limit", "over", "received", "started")

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.started = False
        self.over = False

    async def receive(self) -> Message:
        if self.over:
            return {"type": "http.disconnect"}
        message = await self._receive()
        self.received += len(message.get("body", b""))
        if self.received <= self.limit:
            return message
        # APPSEC: the WSGI app cannot be told the body was cut (EOF is all it sees), so its
        # answer, computed from a partial body, must never reach the client as complete.
        self.over = True
        if not self.started:
            self.started = True
            await _send_too_large(self._send)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.over:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
