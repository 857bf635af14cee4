"""HTTPSRedirectMiddleware: http -> https with the same host, path and query."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware.httpsredirect import HTTPSRedirectMiddleware
from aaf.testing import TestClient
from tests.conftest import call, http_scope


def redirect_app(**options: Any) -> tuple[Any, list[str]]:
    calls: list[str] = []
    router = Router()

    @router.route("/<path:rest>", methods=["GET", "POST"])
    async def anything(conn: Connection, rest: str) -> str:
        calls.append(rest)
        return f"secure {conn.url.scheme}"

    middleware = [Middleware(HTTPSRedirectMiddleware, **options)]
    return aaf([router], middleware=middleware), calls


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("http://example.com/a/b?x=1&y=%20", "https://example.com/a/b?x=1&y=%20"),
        ("http://example.com:8080/a", "https://example.com:8080/a"),
        ("http://example.com/caf%C3%A9/x%2Fy", "https://example.com/caf%C3%A9/x%2Fy"),
    ],
)
def test_http_is_redirected(url: str, location: str) -> None:
    app, calls = redirect_app()
    with TestClient(app, follow_redirects=False) as client:
        response = client.post(url)
    assert response.status_code == 308  # keeps the method and body
    assert response.headers["location"] == location
    assert calls == []


def test_https_passes_through() -> None:
    app, calls = redirect_app()
    with TestClient(app, base_url="https://example.com") as client:
        assert client.get("/a").text == "secure https"
    assert calls == ["a"]


async def test_a_hostile_host_header_does_not_choose_the_target() -> None:
    app, _ = redirect_app(status_code=301)
    headers = [(b"host", b"evil.com/@x")]
    recorder = await call(app, http_scope("/a", headers=headers, server=("10.0.0.1", 80)))
    assert recorder.status == 301
    assert recorder.header(b"location") == b"https://10.0.0.1/a"


async def test_the_default_http_port_is_dropped() -> None:
    app, _ = redirect_app()
    recorder = await call(app, http_scope("/a", headers=[(b"host", b"example.com:80")]))
    assert recorder.header(b"location") == b"https://example.com/a"
    recorder = await call(app, http_scope("/a", headers=[(b"host", b"[::1]:80")]))
    assert recorder.header(b"location") == b"https://[::1]/a"


async def test_websockets() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["scheme"])

    middleware = HTTPSRedirectMiddleware(inner)
    scope = http_scope("/ws", scheme="ws")
    scope["type"] = "websocket"
    recorder = await call(middleware, scope, [{"type": "websocket.connect"}])
    assert recorder.sent == [{"type": "websocket.close", "code": 1008, "reason": "use wss://"}]
    scope["scheme"] = "wss"
    await call(middleware, scope, [{"type": "websocket.connect"}])
    assert seen == ["wss"]


def test_status_code_is_checked() -> None:
    with pytest.raises(ValueError, match="301, 302, 307 or 308"):
        HTTPSRedirectMiddleware(redirect_app()[0], status_code=200)


async def test_a_scope_without_scheme_is_plain_http() -> None:
    # ASGI: "scheme" is optional and defaults to "http" ("ws" for WebSockets).
    app, calls = redirect_app()
    scope = http_scope("/a", headers=[(b"host", b"example.com")])
    del scope["scheme"]
    recorder = await call(app, scope)
    assert recorder.status == 308
    assert recorder.header(b"location") == b"https://example.com/a"
    assert calls == []


async def test_a_websocket_scope_without_scheme_is_plain_ws() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append("reached")

    scope = http_scope("/ws")
    scope["type"] = "websocket"
    del scope["scheme"]
    recorder = await call(HTTPSRedirectMiddleware(inner), scope, [{"type": "websocket.connect"}])
    assert recorder.sent == [{"type": "websocket.close", "code": 1008, "reason": "use wss://"}]
    assert seen == []
