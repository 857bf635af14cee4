"""A live inspector for development: every connection, its route and its messages, in a page.

Add it while developing, on an app built with ``debug=True``::

    app = aaf(
        [router],
        debug=True,
        middleware=[Middleware(InspectorMiddleware)],
    )

and open ``http://127.0.0.1:8000/_aaf/``. The page lists the recent connections (HTTP,
WebSocket and the lifespan) as they start and finish; a click shows the scope and the timeline
of every ASGI message received and sent, with its time offset. JSON at ``/_aaf/api/...``.

APPSEC: it is a development tool. It refuses to start on an aaf app whose ``debug`` is False
(``force=True`` overrides that), only loopback clients may open it (``allow=`` decides
otherwise), and to anyone else its URLs are passed on to the app as any other path (so they
answer the app's own 404: nothing reveals the inspector). The values of ``Authorization``,
``Cookie`` and ``Set-Cookie`` headers are never stored (``redact=``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

from .. import _json
from .._types import ASGIApp, Message, Receive, Scope, Send
from ..app import ROUTE_SCOPE_KEY, App
from ._common import send_text
from ._inspector_page import PAGE_HTML, PAGE_SCRIPT
from ._inspector_store import ConnectionRecord, InspectorStore, Redactor

__all__ = ["InspectorMiddleware", "loopback_only"]

LOOPBACK_HOSTS = frozenset(("127.0.0.1", "::1"))
_JSON = b"application/json"
_NO_STORE = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
# The page's script and style are served from the inspector itself: nothing external loads.
_PAGE_HEADERS = [
    *_NO_STORE,
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; connect-src 'self'; "
        b"style-src 'unsafe-inline'; frame-ancestors 'none'",
    ),
]
_PING_SECONDS = 15.0


def loopback_only(scope: Scope) -> bool:
    """True for clients on 127.0.0.1 or ::1 (the default ``allow=``)."""
    client = scope.get("client")
    return client is not None and client[0] in LOOPBACK_HOSTS


def find_app(app: Any, depth: int = 64) -> App | None:
    """The aaf ``App`` at the end of a middleware chain (its bound ``_serve``), if any."""
    current = app
    for _ in range(depth):
        if isinstance(current, App):
            return current
        owner = getattr(current, "__self__", None)  # a bound method, as the app's _serve
        if isinstance(owner, App):
            return owner
        current = getattr(current, "app", None)
        if current is None:
            return None
    return None


class InspectorMiddleware:
    """Records every connection in a ring buffer and serves the inspector under ``path``.

    Args:
        app: the ASGI app to wrap.
        path: where the page and its API live (default ``/_aaf``).
        allow: ``allow(scope) -> bool`` says who may open it (default: loopback clients only).
        capacity: how many connections are kept (the oldest are forgotten first).
        redact: header names whose values are replaced by ``"[redacted]"`` everywhere.
        body_cap: bodies, frames and other long values are cut to this many characters.
        max_events: messages kept per connection (a long WebSocket keeps its first ones).
        force: start even on an aaf app built with ``debug=False``.
    """

    needs_route = True

    def __init__(
        self,
        app: ASGIApp,
        path: str = "/_aaf",
        *,
        allow: Callable[[Scope], bool] = loopback_only,
        capacity: int = 200,
        redact: Iterable[str] = ("authorization", "cookie", "set-cookie"),
        body_cap: int = 1024,
        max_events: int = 1000,
        force: bool = False,
    ) -> None:
        if not path.startswith("/") or path.endswith("/") or len(path) < 2:
            raise ValueError(f"path must start with '/' and not end with one, as '/_aaf': {path!r}")
        self.app = app
        self.path = path
        self.allow = allow
        self.store = InspectorStore(capacity)
        self.redactor = Redactor(redact, body_cap)
        self.max_events = max_events
        self.target = find_app(app)
        if self.target is not None and not self.target.debug and not force:
            raise RuntimeError(
                "InspectorMiddleware shows every request, headers and bodies included: it is "
                "for development only. Build the app with aaf(..., debug=True) while developing,"
                " or pass Middleware(InspectorMiddleware, force=True) if you really mean it."
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._is_mine(scope) and self.allow(scope):
            await self._serve(scope, receive, send)
            return
        await self._record(scope, receive, send)

    def _local_path(self, scope: Scope) -> str:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        return path[len(root) :] if root and path.startswith(root) else path

    def _is_mine(self, scope: Scope) -> bool:
        local = self._local_path(scope)
        return local == self.path or local.startswith(self.path + "/")

    # ------------------------------------------------------------------ recording
    async def _record(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind: str = scope["type"]
        client = scope.get("client")
        record = ConnectionRecord(
            id=self.store.new_id(),
            kind=kind,
            method=scope.get("method") if kind == "http" else None,
            path=scope.get("path") if kind != "lifespan" else None,
            client=f"{client[0]}:{client[1]}" if client else None,
            scope=self.redactor.scope(scope),
        )
        self.store.add(record)
        limit = self.max_events

        async def recording_receive() -> Message:
            message = await receive()
            record.add_event("receive", self.redactor.message(message), limit)
            return message

        async def recording_send(message: Message) -> None:
            record.add_event("send", self.redactor.message(message), limit)
            kind = message["type"]
            if kind == "http.response.start":
                record.status = message["status"]
            elif kind == "http.response.body":
                record.bytes_out += len(message.get("body", b""))
            elif kind == "websocket.send":
                data = message.get("bytes") or message.get("text") or b""
                record.bytes_out += len(data)
            elif kind == "websocket.accept":
                record.status = 101
            elif kind == "websocket.close":
                record.close_code = message.get("code", 1000)
                if record.status is None:
                    record.status = 403  # closed before accepting: the server answers 403
            elif kind == "websocket.http.response.start":
                record.status = message["status"]
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        except BaseException as exc:
            record.error = f"{type(exc).__qualname__}: {exc}"
            raise
        finally:
            route = scope.get(ROUTE_SCOPE_KEY)
            if route is not None:
                record.route = route.rule
                endpoint = getattr(route, "endpoint", None) or getattr(route, "handler", None)
                record.handler = getattr(endpoint, "__qualname__", None)
            record.duration_ms = round((time.perf_counter() - record.started) * 1000, 3)
            self.store.announce("finished", record)

    # ------------------------------------------------------------------ serving
    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        local = self._local_path(scope)[len(self.path) :]
        method: str = scope["method"]
        if method not in ("GET", "HEAD"):
            await send_text(send, 405, b"Method Not Allowed", [(b"allow", b"GET, HEAD")])
            return
        if local == "":
            target = scope.get("root_path", "") + self.path + "/"
            await send_text(send, 308, b"", [(b"location", target.encode("latin-1"))])
        elif local == "/":
            await send_text(
                send, 200, PAGE_HTML, _PAGE_HEADERS, content_type=b"text/html; charset=utf-8"
            )
        elif local == "/inspector.js":
            await send_text(
                send, 200, PAGE_SCRIPT, _NO_STORE, content_type=b"text/javascript; charset=utf-8"
            )
        elif local == "/api/connections":
            await self._json(send, self.store.summaries())
        elif local.startswith("/api/connections/"):
            ident = local.removeprefix("/api/connections/")
            record = self.store.get(int(ident)) if ident.isdigit() and len(ident) < 19 else None
            if record is None:
                await self._json(send, {"error": "no such connection (forgotten?)"}, 404)
            else:
                await self._json(send, record.detail())
        elif local == "/api/app":
            await self._json(send, self.app_info())
        elif local == "/api/events":
            await self._stream_events(receive, send)
        else:
            await self._json(send, {"error": "not found"}, 404)

    async def _json(self, send: Send, data: Any, status: int = 200) -> None:
        await send_text(send, status, _json.encode(data), _NO_STORE, content_type=_JSON)

    def app_info(self) -> dict[str, Any]:
        """The route table and mounts of the aaf app this middleware wraps (if it wraps one)."""
        target = self.target
        if target is None:
            return {"found": False, "routes": [], "mounts": []}
        routes = [
            {
                "methods": sorted(route.methods) if not route.websocket else ["WEBSOCKET"],
                "rule": route.rule,
                "name": route.name,
                "handler": getattr(route.endpoint or route.handler, "__qualname__", None),
            }
            for router in target.routers
            for route in router.routes
        ]
        mounts = [
            {"prefix": m.prefix, "name": m.name, "app": type(m.app).__qualname__}
            for m in target.mounts()
        ]
        return {"found": True, "debug": target.debug, "routes": routes, "mounts": mounts}

    async def _stream_events(self, receive: Receive, send: Send) -> None:
        """Server-sent events: ``started`` and ``finished`` with each connection's summary.

        Ends when the client leaves (its ``http.disconnect``)."""
        queue = self.store.listen()
        try:
            headers = [(b"content-type", b"text/event-stream"), *_NO_STORE]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            # A first comment: the page (and the tests) know the subscription is in place.
            await send(
                {"type": "http.response.body", "body": b": listening\n\n", "more_body": True}
            )
            gone = asyncio.ensure_future(_disconnected(receive))
            try:
                while True:
                    getter = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait(
                        {getter, gone}, timeout=_PING_SECONDS, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                    if gone in done:
                        return
                    frame = b": ping\n\n"
                    if getter in done:
                        event, summary = getter.result()
                        frame = b"event: %s\ndata: %s\n\n" % (
                            event.encode(),
                            _json.encode(summary),
                        )
                    await send({"type": "http.response.body", "body": frame, "more_body": True})
            finally:
                gone.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gone
        finally:
            self.store.unlisten(queue)


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
