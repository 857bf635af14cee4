"""The scopes the test clients build: what a server such as uvicorn would build for a request."""

from __future__ import annotations

import base64
import os
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx

from ._types import Scope

__all__ = ["build_http_scope", "build_websocket_scope"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _scope(
    kind: str,
    scheme: str,
    request: httpx.Request,
    root_path: str,
    client: tuple[str, int],
    state: dict[str, Any],
) -> Scope:
    url = request.url
    raw_path = url.raw_path.split(b"?", 1)[0]
    return {
        "type": kind,
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": scheme,
        # Like uvicorn: the request path is below root_path, and scope["path"] includes both.
        "path": root_path + unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": root_path.encode() + raw_path,
        "query_string": url.query,
        "root_path": root_path,
        "headers": [(k.lower(), v) for k, v in request.headers.raw],
        "client": client,
        "server": (url.host, url.port or _DEFAULT_PORTS[scheme]),
        "state": dict(state),  # a shallow copy per request, as servers do
    }


def build_http_scope(
    request: httpx.Request, root_path: str, client: tuple[str, int], state: dict[str, Any]
) -> Scope:
    """The scope of an HTTP ``request``."""
    scope = _scope("http", request.url.scheme, request, root_path, client, state)
    scope["method"] = request.method
    scope["extensions"] = {}
    return scope


def build_websocket_scope(
    request: httpx.Request,
    root_path: str,
    client: tuple[str, int],
    state: dict[str, Any],
    subprotocols: list[str],
) -> Scope:
    """The scope of a WebSocket handshake ``request`` (with the denial-response extension)."""
    scheme = "wss" if request.url.scheme in ("https", "wss") else "ws"
    scope = _scope("websocket", scheme, request, root_path, client, state)
    scope["headers"] += [
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", base64.b64encode(os.urandom(16))),
    ]
    if subprotocols:
        protocols = ", ".join(subprotocols).encode("latin-1")
        scope["headers"].append((b"sec-websocket-protocol", protocols))
    scope["subprotocols"] = list(subprotocols)
    scope["extensions"] = {"websocket.http.response": {}}
    return scope
