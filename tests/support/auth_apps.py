"""One small app behind any authentication middleware: who am I, a guarded route, a WebSocket."""

from __future__ import annotations

import json
from typing import Any

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware.auth import requires


def guarded_app(*middleware: Middleware[Any]) -> tuple[Any, list[str]]:
    """The app and the list of handlers that ran (a refused request adds nothing)."""
    calls: list[str] = []
    router = Router()
    add_guarded_routes(router, calls)
    return aaf([router], middleware=list(middleware)), calls


def add_guarded_routes(router: Router, calls: list[str]) -> None:
    """``/me`` (who am I), ``/reports`` (needs ``reports:read``) and the WebSocket ``/ws``
    (sends ``{"user": ...}``); each handler that runs appends its name to ``calls``."""

    @router.get("/me")
    async def me(conn: Connection) -> dict[str, Any]:
        calls.append("me")
        user = conn.user
        if user is None:
            return {"user": None}
        return {"user": user.subject, "scopes": sorted(user.scopes), "claims": dict(user.claims)}

    @router.get("/reports")
    @requires("reports:read")
    async def reports(conn: Connection) -> dict[str, bool]:
        calls.append("reports")
        return {"reports": True}

    @router.websocket("/ws")
    async def ws(conn: Connection) -> None:
        calls.append("ws")
        await conn.accept()
        user = conn.user
        await conn.send_text(json.dumps({"user": user.subject if user is not None else None}))
        await conn.close()


def ws_scope(
    headers: list[tuple[bytes, bytes]] | None = None, query: bytes = b"", denial: bool = False
) -> dict[str, Any]:
    """A raw WebSocket scope; ``denial``: the server supports denial responses."""
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws",
        "raw_path": b"/ws",
        "query_string": query,
        "root_path": "",
        "headers": headers if headers is not None else [(b"host", b"testserver")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}} if denial else {},
    }


class Inner:
    """A raw ASGI app that records the scopes reaching it."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
