"""RequestIdMiddleware: sane incoming IDs kept, others replaced; exposed and echoed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from aaf import Connection, HttpResponse, Middleware, Router, aaf
from aaf.middleware.requestid import RequestIdMiddleware
from aaf.testing import TestClient
from tests.conftest import call, http_scope


def id_app(**options: Any) -> Any:
    router = Router()

    @router.get("/")
    async def index(conn: Connection) -> dict[str, Any]:
        return {"id": conn.request_id}

    @router.get("/own")
    async def own(conn: Connection) -> HttpResponse:
        return HttpResponse("x", headers={"x-request-id": "set-by-handler"})

    return aaf([router], middleware=[Middleware(RequestIdMiddleware, **options)])


def test_an_id_is_generated_exposed_and_echoed() -> None:
    with TestClient(id_app()) as client:
        first = client.get("/")
        second = client.get("/")
    request_id = first.json()["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert first.headers["x-request-id"] == request_id
    assert second.json()["id"] != request_id


@pytest.mark.parametrize("incoming", ["abc-123", "trace:1/2+3=4.5_6~7", "A" * 128])
def test_sane_incoming_ids_are_kept(incoming: str) -> None:
    with TestClient(id_app()) as client:
        response = client.get("/", headers={"x-request-id": incoming})
    assert response.json() == {"id": incoming}
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize("incoming", ["", "has space", 'quote"d', "<script>", "A" * 129, "é"])
def test_other_incoming_ids_are_replaced(incoming: str) -> None:
    with TestClient(id_app()) as client:
        response = client.get("/", headers={b"x-request-id": incoming.encode()})
    assert re.fullmatch(r"[0-9a-f]{32}", response.json()["id"])


async def test_control_characters_are_replaced() -> None:
    recorder = await call(id_app(), http_scope("/", headers=[(b"x-request-id", b"a\x01b")]))
    assert recorder.header(b"x-request-id") != b"a\x01b"


def test_options() -> None:
    counter = iter(range(100))
    app = id_app(
        header_name="X-Trace-Id", trust_incoming=False, generator=lambda: f"t{next(counter)}"
    )
    with TestClient(app) as client:
        response = client.get("/", headers={"x-trace-id": "client-chosen"})
    assert response.json() == {"id": "t0"}
    assert response.headers["x-trace-id"] == "t0"


async def test_a_bad_generator_is_caught() -> None:
    middleware = RequestIdMiddleware(id_app(), generator=lambda: "bad id")
    with pytest.raises(ValueError, match="the request ID generator made 'bad id'"):
        await call(middleware, http_scope("/"))


def test_a_handler_header_wins() -> None:
    with TestClient(id_app()) as client:
        response = client.get("/own")
    assert response.headers.get_list("x-request-id") == ["set-by-handler"]


def test_without_the_middleware_there_is_no_id() -> None:
    router = Router()

    @router.get("/")
    async def index(conn: Connection) -> dict[str, Any]:
        return {"id": conn.request_id}

    assert TestClient(aaf([router])).get("/").json() == {"id": None}


async def test_websocket_and_lifespan() -> None:
    seen: list[Any] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope.get("request_id"))

    scope = http_scope("/ws", headers=[(b"x-request-id", b"ws-1")])
    scope["type"] = "websocket"
    await call(RequestIdMiddleware(inner), scope)
    await call(RequestIdMiddleware(inner), {"type": "lifespan"})
    assert seen == ["ws-1", None]
