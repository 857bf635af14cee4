"""WebSocket messages: text, bytes and JSON, bad client data, closing, errors after accept."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import Connection, HTTPError, HttpResponse, Router, WebSocketDisconnect, aaf
from aaf.testing import TestClient
from aaf.websocket import WebSocketDataError, WebSocketState
from tests.support.ws import CONNECT, binary, drive, text, ws_scope


# ---------------------------------------------------------------------------- messages
def messages_app() -> Any:
    router = Router()

    @router.websocket("/text")
    async def text_handler(conn: Connection) -> None:
        await conn.accept()
        async for item in conn.iter_text():
            await conn.send_text(item.upper())

    @router.websocket("/bytes")
    async def bytes_handler(conn: Connection) -> None:
        await conn.accept()
        async for item in conn.iter_bytes():
            await conn.send_bytes(item[::-1])

    @router.websocket("/json")
    async def json_handler(conn: Connection) -> None:
        await conn.accept()
        async for item in conn.iter_json():
            await conn.send_json({"got": item})

    @router.websocket("/raw")
    async def raw_handler(conn: Connection) -> None:
        await conn.accept()
        while True:
            message = await conn.receive()
            if message["type"] == "websocket.disconnect":
                break
            await conn.send_text(repr(sorted(message)))

    @router.websocket("/json-errors")
    async def json_errors(conn: Connection) -> None:
        await conn.accept()
        while True:
            try:
                value = await conn.receive_json()
            except WebSocketDataError as exc:
                await conn.send_json({"error": str(exc)[:12], "code": exc.close_code})
                continue
            except WebSocketDisconnect:
                return
            await conn.send_json(value)

    return aaf(router)


def test_text_bytes_json_and_raw_messages() -> None:
    with TestClient(messages_app()) as client:
        with client.websocket_connect("/text") as ws:
            ws.send_text("abc")
            assert ws.receive_text() == "ABC"
        with client.websocket_connect("/bytes") as ws:
            ws.send_bytes(b"\x00\x01\x02")
            assert ws.receive_bytes() == b"\x02\x01\x00"
        with client.websocket_connect("/json") as ws:
            ws.send_json({"a": [1, 2]})
            assert ws.receive_json() == {"got": {"a": [1, 2]}}
            ws.send_bytes(b'{"b": true}')  # JSON may come in a binary frame too
            assert ws.receive_json() == {"got": {"b": True}}
        with client.websocket_connect("/raw") as ws:
            ws.send_text("t")
            assert ws.receive_text() == "['text', 'type']"


def test_invalid_json_is_an_error_the_handler_can_catch() -> None:
    with TestClient(messages_app()) as client, client.websocket_connect("/json-errors") as ws:
        ws.send_text("{not json")
        assert ws.receive_json() == {"error": "invalid JSON", "code": 1007}
        ws.send_text('{"ok": 1}')
        assert ws.receive_json() == {"ok": 1}


@pytest.mark.parametrize(
    ("path", "message", "code"),
    [
        ("/json", text("{oops"), 1007),
        ("/json", text("[" * 100_000), 1007),  # nested too deeply: still the client's error
        ("/text", binary(b"\xff"), 1003),
        ("/bytes", text("not bytes"), 1003),
    ],
)
async def test_uncaught_bad_client_data_closes_with_a_client_error_code(
    path: str, message: dict[str, Any], code: int, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        driver = await drive(messages_app(), ws_scope(path), [CONNECT, message])
    assert driver.close["code"] == code
    assert driver.close["reason"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_app_closing_is_seen_by_the_client_with_code_and_reason() -> None:
    router = Router()

    @router.websocket("/bye")
    async def bye(conn: Connection) -> None:
        await conn.accept()
        await conn.send_text("bye")
        await conn.close(4001, "done here")
        await conn.close()  # closing again does nothing

    with TestClient(aaf(router)) as client, client.websocket_connect("/bye") as ws:
        assert ws.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4001, "done here")
        assert ws.close_code == 4001
        with pytest.raises(WebSocketDisconnect):
            ws.receive()
        with pytest.raises(WebSocketDisconnect):
            ws.send_text("too late")


# ---------------------------------------------------------------------------- errors
async def test_uncaught_error_after_accept_closes_1011_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router = Router()

    @router.websocket("/boom")
    async def boom(conn: Connection) -> None:
        await conn.accept()
        await conn.receive_text()
        raise KeyError("secret-detail")

    with caplog.at_level(logging.ERROR, logger="aaf.error"):
        driver = await drive(aaf(router), ws_scope("/boom"), [CONNECT, text("go")])
    assert driver.close == {"type": "websocket.close", "code": 1011, "reason": ""}
    [record] = [r for r in caplog.records if r.name == "aaf.error"]
    assert "unhandled error in WebSocket" in record.getMessage()
    assert "(boom)" in record.getMessage()


async def test_http_error_after_accept_closes_with_policy_or_internal_code() -> None:
    router = Router()

    @router.websocket("/forbidden")
    async def forbidden(conn: Connection) -> None:
        await conn.accept()
        raise HTTPError(403, "x" * 300)

    @router.websocket("/unavailable")
    async def unavailable(conn: Connection) -> None:
        await conn.accept()
        raise HTTPError(503, "try later")

    app = aaf(router)
    driver = await drive(app, ws_scope("/forbidden"))
    assert driver.close["code"] == 1008
    assert driver.close["reason"] == "x" * 123  # a close frame's reason is at most 123 bytes
    driver = await drive(app, ws_scope("/unavailable"))
    # 503 (a backend down for now) is 1013 "try again later"; other 5xx stay 1011.
    assert driver.close == {"type": "websocket.close", "code": 1013, "reason": "try later"}


async def test_returning_something_else_is_an_error() -> None:
    router = Router()

    @router.websocket("/after")
    async def after(conn: Connection) -> HttpResponse:
        await conn.accept()
        return HttpResponse("too late")

    @router.websocket("/value")
    async def value(conn: Connection) -> int:
        return 42

    app = aaf(router)
    assert (await drive(app, ws_scope("/after"))).close["code"] == 1011
    driver = await drive(app, ws_scope("/value"))
    assert driver.sent[0]["status"] == 500


async def test_handler_that_returns_while_connected_gets_a_normal_close() -> None:
    router = Router()

    @router.websocket("/once")
    async def once(conn: Connection) -> None:
        await conn.accept()
        await conn.send_text("one")

    driver = await drive(aaf(router), ws_scope("/once"))
    assert driver.types == ["websocket.accept", "websocket.send", "websocket.close"]
    assert driver.close["code"] == 1000


async def test_uncaught_disconnect_from_a_send_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    router = Router()
    states: list[WebSocketState] = []

    @router.websocket("/push")
    async def push(conn: Connection) -> None:
        await conn.accept()
        try:
            await conn.send_text("1")
        finally:
            states.append(conn.ws_state)

    with caplog.at_level(logging.DEBUG, logger="aaf.error"):
        driver = await drive(aaf(router), ws_scope("/push"), send_error=True)
    assert driver.types == ["websocket.accept"]  # no close after the client is gone
    assert states == [WebSocketState.DISCONNECTED]
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
