"""Serve a WSGI application (Flask, Django, ...) inside an aaf app, through a2wsgi.

    from aaf.wsgi import WSGIApp
    router.mount("/legacy", WSGIApp(flask_app))

The WSGI app runs in a2wsgi's worker threads; ``SCRIPT_NAME`` is the mount prefix and
``PATH_INFO`` the rest, so the WSGI framework builds its URLs under the prefix. The request
body is capped (``max_body_size``): a larger ``Content-Length`` is answered 413 before the WSGI
app runs, and a body that grows past the cap while streaming is cut short there.
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
                headers = [(b"content-type", b"text/plain"), (b"content-length", b"22")]
                await send({"type": "http.response.start", "status": 413, "headers": headers})
                await send({"type": "http.response.body", "body": _TOO_LARGE})
                return
            receive = _capped(receive, limit)
        await self._adapter(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # APPSEC: ASCII digits only; anything else is left for the WSGI app to refuse.
            return int(value) if value.isdigit() and len(value) <= 19 else None
    return None


def _capped(receive: Receive, limit: int) -> Receive:
    """A receive() that ends the body (as a disconnect) once more than ``limit`` bytes came."""
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        if received > limit:
            return {"type": "http.disconnect"}
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            return {"type": "http.disconnect"}
        return message

    return capped_receive
