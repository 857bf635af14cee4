"""WebSockets on Connection: routing, the handshake and refusals before accept."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import (
    Connection,
    ConnectionType,
    HTTPError,
    HttpResponse,
    Router,
    WebSocketDisconnect,
    aaf,
)
from aaf.testing import AsyncTestClient, TestClient, WebSocketDenied
from aaf.websocket import WebSocketState
from tests.support.ws import CONNECT, drive, text, ws_scope


def chat_app() -> Any:
    """The chat handler of docs/design.md, unchanged."""
    router = Router()

    @router.websocket("/chat/<room>")
    async def chat(conn, room):  # type: ignore[no-untyped-def]
        await conn.accept()
        async for message in conn.iter_text():
            await conn.send_text(message)

    return aaf([router])


# ---------------------------------------------------------------------------- the happy path
def test_design_chat_handler_echoes_until_the_client_leaves() -> None:
    with TestClient(chat_app()) as client, client.websocket_connect("/chat/lobby") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "hello"
        ws.send_text("second")
        assert ws.receive_text() == "second"


async def test_design_chat_handler_with_the_async_client() -> None:
    async with (
        AsyncTestClient(chat_app()) as client,
        client.websocket_connect("/chat/lobby") as ws,
    ):
        await ws.send_text("hi")
        assert await ws.receive_text() == "hi"


async def test_chat_handler_ends_cleanly_and_sends_nothing_after_the_disconnect() -> None:
    driver = await drive(chat_app(), ws_scope("/chat/a"), [CONNECT, text("x")])
    assert driver.types == ["websocket.accept", "websocket.send"]
    assert driver.sent[1]["text"] == "x"


async def test_route_converters_params_and_connection_views() -> None:
    router = Router()
    seen: dict[str, Any] = {}

    @router.websocket("/items/<int:item_id>/<path:rest>")
    async def item(conn: Connection, item_id: int, rest: str) -> None:
        seen.update(
            type=conn.type,
            item_id=item_id,
            rest=rest,
            params=conn.path_params,
            url=str(conn.url),
            route=conn.route.name if conn.route else None,
            method=conn.method,
        )
        await conn.accept()
        await conn.send_json({"id": item_id})

    async with AsyncTestClient(aaf(router)) as client:
        async with client.websocket_connect("/items/7/a/b?x=1") as ws:
            assert await ws.receive_json() == {"id": 7}
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/items/seven/a"):
                pass
    assert denied.value.status_code == 404
    assert seen == {
        "type": ConnectionType.WEBSOCKET,
        "item_id": 7,
        "rest": "a/b",
        "params": {"item_id": 7, "rest": "a/b"},
        "url": "ws://testserver/items/7/a/b?x=1",
        "route": "item",
        "method": "GET",
    }


def test_included_and_mounted_websocket_routes() -> None:
    inner = Router()

    @inner.websocket("/echo")
    async def echo(conn: Connection) -> None:
        await conn.accept()
        await conn.send_text(f"{conn.scope['root_path']}|{conn.route_path}")

    api = Router()
    api.include(inner, prefix="/v1")
    sub_app = aaf(api)
    outer = Router()
    outer.mount("/api", sub_app)
    with TestClient(aaf(outer)) as client:
        with client.websocket_connect("/api/v1/echo") as ws:
            assert ws.receive_text() == "/api|/v1/echo"
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/api/nope"):
            pass
    assert denied.value.status_code == 404


def test_http_routes_do_not_answer_websockets_and_vice_versa() -> None:
    router = Router()

    @router.get("/page")
    async def page(conn: Connection) -> str:
        return "page"

    @router.websocket("/page-ws")
    async def page_ws(conn: Connection) -> None:
        await conn.accept()

    with TestClient(aaf(router)) as client:
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/page"):
            pass
        assert denied.value.status_code == 404
        assert denied.value.text == "Not Found"
        assert client.get("/page-ws").status_code == 404


# ---------------------------------------------------------------------------- handshake
def test_subprotocol_and_accept_headers() -> None:
    router = Router()

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        offered = conn.subprotocols
        await conn.accept(subprotocol="chat.v2", headers={"x-server": "aaf"})
        await conn.send_json({"offered": offered, "chosen": conn.accepted_subprotocol})

    with (
        TestClient(aaf(router)) as client,
        client.websocket_connect("/ws", subprotocols=["chat.v1", "chat.v2"]) as ws,
    ):
        assert ws.accepted_subprotocol == "chat.v2"
        assert ws.accept_headers["x-server"] == "aaf"
        assert ws.receive_json() == {"offered": ["chat.v1", "chat.v2"], "chosen": "chat.v2"}


async def test_accepting_a_subprotocol_the_client_did_not_offer_is_refused() -> None:
    router = Router()

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        await conn.accept(subprotocol="evil")

    driver = await drive(aaf(router), ws_scope("/ws", subprotocols=["chat"]))
    assert driver.types == ["websocket.http.response.start", "websocket.http.response.body"]
    assert driver.sent[0]["status"] == 500


async def test_accept_headers_with_line_breaks_are_refused_before_sending() -> None:
    router = Router()
    errors: list[Exception] = []

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        try:
            await conn.accept(headers={"x-a": "1\r\nx-injected: 1"})
        except ValueError as exc:
            errors.append(exc)
            await conn.accept()

    driver = await drive(aaf(router), ws_scope("/ws"))
    assert "control character" in str(errors[0])
    assert driver.sent[0] == {"type": "websocket.accept", "subprotocol": None}


async def test_client_leaving_before_accept_raises_disconnect_in_accept() -> None:
    router = Router()
    caught: list[int] = []

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        try:
            await conn.accept()
        except WebSocketDisconnect as exc:
            caught.append(exc.code)
            assert conn.ws_state == WebSocketState.DISCONNECTED

    driver = await drive(
        aaf(router), ws_scope("/ws"), [{"type": "websocket.disconnect", "code": 1001}]
    )
    assert caught == [1001]
    assert driver.sent == []


# ---------------------------------------------------------------------------- denial
def denial_app() -> Any:
    router = Router()

    @router.websocket("/returned")
    async def returned(conn: Connection) -> HttpResponse:
        return HttpResponse("log in first", 401, headers={"www-authenticate": "Bearer"})

    @router.websocket("/raised")
    async def raised(conn: Connection) -> None:
        raise HTTPError(403, "members only", headers={"x-why": "policy"})

    @router.websocket("/explicit")
    async def explicit(conn: Connection) -> None:
        await conn.deny(451)

    @router.websocket("/closed")
    async def closed(conn: Connection) -> None:
        await conn.close()

    @router.websocket("/silent")
    async def silent(conn: Connection) -> None:
        return None

    @router.websocket("/broken")
    async def broken(conn: Connection) -> None:
        raise RuntimeError("bug before accept")

    return aaf(router)


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/returned", 401, b"log in first"),
        ("/raised", 403, b'{"error":"members only"}'),
        ("/explicit", 451, b""),
        ("/closed", 403, b""),
        ("/silent", 403, b""),
        ("/broken", 500, b"Internal Server Error"),
        ("/unknown", 404, b"Not Found"),
    ],
)
def test_denial_responses_carry_status_headers_and_body(
    path: str, status: int, body: bytes
) -> None:
    with (
        TestClient(denial_app()) as client,
        pytest.raises(WebSocketDenied) as denied,
        client.websocket_connect(path),
    ):
        pass
    assert denied.value.status_code == status
    assert denied.value.body == body
    assert str(status) in str(denied.value)
    if path == "/returned":
        assert denied.value.headers["www-authenticate"] == "Bearer"
    if path == "/raised":
        assert denied.value.headers["x-why"] == "policy"
        assert denied.value.json() == {"error": "members only"}


@pytest.mark.parametrize(
    "path", ["/returned", "/raised", "/explicit", "/closed", "/silent", "/broken", "/x"]
)
async def test_without_the_extension_a_refusal_is_a_close_before_accept(path: str) -> None:
    driver = await drive(denial_app(), ws_scope(path, denial_extension=False))
    assert driver.sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


async def test_denial_and_errors_are_logged_appropriately(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aaf.error"):
        await drive(denial_app(), ws_scope("/broken"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "'/broken' (broken)" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "bug before accept" in str(errors[0].exc_info[1])
