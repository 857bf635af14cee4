"""@rate_limit: one handler's limit, wrapped at registration."""

from __future__ import annotations

from typing import Any

import pytest

from aaf import Router, aaf
from aaf.middleware.ratelimit import rate_limit
from aaf.ratelimit_backends import MemoryBackend
from aaf.testing import TestClient, WebSocketDenied
from tests.support.ratelimit_fakes import BrokenBackend

# ------------------------------------------------------------------ @rate_limit


def decorated_app(backend: MemoryBackend | None = None) -> Any:
    router = Router()
    backend = backend or MemoryBackend()

    @router.post("/login")
    @rate_limit("2/minute", backend=backend)
    async def login(conn: Any) -> str:
        return "welcome"

    @router.get("/items/<int:item_id>")
    @rate_limit("1/minute", backend=backend)
    def item(conn: Any, item_id: int) -> dict[str, int]:  # a plain def: run in a thread
        return {"item": item_id}

    @router.get("/a")
    @rate_limit("2/minute", name="shared", backend=backend)
    async def a(conn: Any) -> str:
        return "a"

    @router.get("/b")
    @rate_limit("2/minute", name="shared", backend=backend)
    async def b(conn: Any) -> str:
        return "b"

    @router.get("/free")
    async def free(conn: Any) -> str:
        return "free"

    @router.websocket("/ws")
    @rate_limit("1/minute", backend=backend)
    async def ws(conn: Any) -> None:
        await conn.accept()
        await conn.send_text("in")
        await conn.close()

    return aaf([router])


def test_the_decorator_limits_one_route() -> None:
    client = TestClient(decorated_app())
    first = client.post("/login")
    assert first.status_code == 200
    assert first.text == "welcome"
    assert first.headers["ratelimit-policy"] == '"login";q=2;w=60'
    assert first.headers["ratelimit"] == '"login";r=1;t=30'
    assert client.post("/login").status_code == 200
    refused = client.post("/login")
    assert refused.status_code == 429
    assert refused.json() == {"error": "rate limit exceeded"}
    assert refused.headers["retry-after"] == "30"
    assert refused.headers["ratelimit"] == '"login";r=0;t=60'
    free = client.get("/free")
    assert free.status_code == 200
    assert "ratelimit" not in free.headers


def test_the_decorator_keeps_path_parameters_and_sync_handlers() -> None:
    client = TestClient(decorated_app())
    assert client.get("/items/7").json() == {"item": 7}
    assert client.get("/items/7").status_code == 429


def test_decorated_handlers_with_one_name_share_a_budget() -> None:
    client = TestClient(decorated_app())
    assert client.get("/a").status_code == 200
    assert client.get("/b").status_code == 200
    assert client.get("/a").status_code == 429
    assert client.get("/b").status_code == 429
    assert client.post("/login").status_code == 200  # another budget


def test_the_decorator_limits_websocket_connects() -> None:
    client = TestClient(decorated_app())
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "in"
    with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/ws"):
        pass
    assert denied.value.status_code == 429
    assert denied.value.headers["retry-after"] == "60"


def test_the_decorator_fails_closed_when_asked() -> None:
    router = Router()

    @router.post("/login")
    @rate_limit("2/minute", backend=BrokenBackend(), on_backend_error="deny")
    async def login(conn: Any) -> str:
        return "welcome"

    answer = TestClient(aaf([router])).post("/login")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"


def test_a_router_wide_limit_through_router_decorators() -> None:
    # Router(decorators=[...]) applies the limit to every route of the router at registration;
    # with a name, they share one budget. Another router's routes are not limited.
    backend = MemoryBackend()
    api = Router(decorators=[rate_limit("3/minute", name="api", backend=backend)])

    @api.get("/one")
    async def one(conn: Any) -> str:
        return "one"

    @api.post("/two")
    async def two(conn: Any) -> str:
        return "two"

    free = Router()

    @free.get("/free")
    async def unlimited(conn: Any) -> str:
        return "free"

    client = TestClient(aaf([api, free]))
    statuses = [
        client.get("/one").status_code,
        client.post("/two").status_code,
        client.get("/one").status_code,
        client.post("/two").status_code,
    ]
    assert statuses == [200, 200, 200, 429]
    assert [client.get("/free").status_code for _ in range(5)] == [200] * 5
