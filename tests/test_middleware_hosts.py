"""TrustedHostMiddleware: exact names and *.domain patterns; everything else refused."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware.hosts import TrustedHostMiddleware, host_name
from aaf.testing import TestClient
from tests.conftest import call, http_scope


def hosts_app(allowed: list[str]) -> tuple[Any, list[str]]:
    calls: list[str] = []
    router = Router()

    @router.get("/")
    async def index(conn: Connection) -> str:
        calls.append(conn.req_headers["host"])
        return "ok"

    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed)]
    return aaf([router], middleware=middleware), calls


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com",
        "example.com:8443",
        "example.com.",
        "api.example.com",
        "a.b.example.com",
        "[::1]:8000",
        "127.0.0.1:80",
    ],
)
def test_allowed_hosts(host: str) -> None:
    app, calls = hosts_app(["example.com", "*.example.com", "[::1]", "127.0.0.1"])
    with TestClient(app) as client:
        response = client.get("/", headers={"host": host})
    assert response.text == "ok"
    assert calls == [host]


@pytest.mark.parametrize(
    "host",
    [
        "evil.com",
        "example.com.evil.com",
        "notexample.com",
        "evilexample.com",
        "example.co",
        "[::2]",
        "",
        "example.com:80:80",
        "[::1",
        # Not a plain host[:port]: what follows the real host would end up in links built
        # from the Host header (https://{host}/reset?...), even though the suffix matches.
        "evil.com/.example.com",
        "evil.com?.example.com",
        "evil.com#.example.com",
        "evil.com\\.example.com",
        "evil.com .example.com",
        "a@evil.com:.example.com",
        "evil.com:80.example.com",
        "[::1]@evil.com",
        "[::1]evil.com",
        "[::1]:99999",
        "example.com:123456",
        "[::g]",
    ],
)
def test_refused_hosts(host: str) -> None:
    app, calls = hosts_app(["example.com", "*.example.com", "[::1]"])
    with TestClient(app) as client:
        response = client.get("/", headers={"host": host})
    assert response.status_code == 400
    assert response.text == "Invalid host header"
    assert calls == []


def test_wildcard_does_not_match_the_bare_domain() -> None:
    app, _ = hosts_app(["*.example.com"])
    with TestClient(app) as client:
        assert client.get("/", headers={"host": "example.com"}).status_code == 400
        assert client.get("/", headers={"host": "www.example.com"}).status_code == 200


async def test_missing_or_repeated_host_is_refused() -> None:
    app, calls = hosts_app(["example.com"])
    missing = await call(app, http_scope("/", headers=[]))
    twice = await call(
        app, http_scope("/", headers=[(b"host", b"example.com"), (b"host", b"evil.com")])
    )
    assert missing.status == 400
    assert twice.status == 400
    assert calls == []


def test_star_allows_every_host() -> None:
    app, _ = hosts_app(["*"])
    with TestClient(app) as client:
        assert client.get("/", headers={"host": "anything.invalid"}).text == "ok"


async def test_websocket_for_another_host_is_closed_before_accept() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    middleware = TrustedHostMiddleware(inner, ["example.com"])
    scope = http_scope("/ws", headers=[(b"host", b"evil.com")])
    scope["type"] = "websocket"
    recorder = await call(middleware, scope, [{"type": "websocket.connect"}])
    assert recorder.sent == [{"type": "websocket.close", "code": 1008, "reason": "invalid host"}]
    scope["headers"] = [(b"host", b"example.com")]
    await call(middleware, scope, [{"type": "websocket.connect"}])
    await call(middleware, {"type": "lifespan"})
    assert seen == ["websocket", "lifespan"]


@pytest.mark.parametrize(
    ("allowed", "error"),
    [
        ([], "allowed_hosts is empty"),
        (["*.*.example.com"], "may only start with"),
        (["example.*"], "wildcards go first"),
    ],
)
def test_bad_patterns_are_refused(allowed: list[str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        TrustedHostMiddleware(hosts_app(["x"])[0], allowed)


def test_host_name() -> None:
    assert host_name("Example.COM:8000") == "example.com"
    assert host_name("[2001:db8::1]:443") == "[2001:db8::1]"
    assert host_name("[broken") == ""
    assert host_name("host:notaport") == "host:notaport"
