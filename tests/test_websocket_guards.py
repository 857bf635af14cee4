"""WebSocket state guards, close codes and reasons, the message size limit, odd servers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import Connection, HTTPError, Limits, ResponseStateError, Router, WebSocketDisconnect, aaf
from aaf._types import Message
from aaf.limits import KiB
from aaf.testing import TestClient
from aaf.websocket import WebSocketDataError, WebSocketState, WebSocketStateError, clip_reason
from tests.support.ws import CONNECT, binary, drive, text, ws_scope


# ---------------------------------------------------------------------------- state guards
async def test_state_guards_raise_clear_errors() -> None:
    router = Router()
    errors: dict[str, str] = {}

    def note(key: str, exc: Exception) -> None:
        errors[key] = f"{type(exc).__name__}: {exc}"

    @router.websocket("/guards")
    async def guards(conn: Connection) -> None:
        assert conn.ws_state == WebSocketState.CONNECTING
        for key, action in [
            ("send_before_accept", conn.send_text("x")),
            ("receive_before_accept", conn.receive_text()),
        ]:
            try:
                await action
            except WebSocketStateError as exc:
                note(key, exc)
        await conn.accept()
        try:
            await conn.accept()
        except WebSocketStateError as exc:
            note("accept_twice", exc)
        try:
            await conn.deny(403)
        except WebSocketStateError as exc:
            note("deny_after_accept", exc)
        for key, http_action in [
            ("http_send", conn.send("x")),
            ("http_send_json_status", conn.send_json({}, status_code=201)),
            ("http_finish", conn.finish()),
        ]:
            try:
                await http_action
            except ResponseStateError as exc:
                note(key, exc)
        try:
            conn.put_resp_header("x-a", "b")
        except ResponseStateError as exc:
            note("http_header", exc)
        with pytest.raises(WebSocketDisconnect) as gone:
            await conn.receive_text()
        assert gone.value.code == 1000
        try:
            await conn.receive_text()
        except WebSocketStateError as exc:
            note("receive_after_disconnect", exc)
        try:
            await conn.send_bytes(b"x")
        except WebSocketDisconnect as exc:
            note("send_after_disconnect", exc)

    await drive(aaf(router), ws_scope("/guards"))
    assert errors["send_before_accept"].startswith("WebSocketStateError: cannot send before")
    assert "await conn.accept() first" in errors["receive_before_accept"]
    assert "call accept() once" in errors["accept_twice"]
    assert "close(code)" in errors["deny_after_accept"]
    for key in ("http_send", "http_send_json_status", "http_finish", "http_header"):
        assert "this connection is a WebSocket" in errors[key], key
    assert "disconnected" in errors["receive_after_disconnect"]
    assert errors["send_after_disconnect"].startswith(
        "WebSocketDisconnect: WebSocket closed with code 1000"
    )


async def test_sending_after_the_app_closed_is_a_state_error() -> None:
    router = Router()
    errors: list[str] = []

    @router.websocket("/closed")
    async def closed(conn: Connection) -> None:
        await conn.accept()
        await conn.close(1001)
        try:
            await conn.send_text("late")
        except WebSocketStateError as exc:
            errors.append(str(exc))
        try:
            await conn.receive()
        except WebSocketStateError as exc:
            errors.append(str(exc))

    await drive(aaf(router), ws_scope("/closed"))
    assert "the WebSocket is closed (code 1001)" in errors[0]
    assert "cannot receive: the WebSocket is closed" in errors[1]


async def test_websocket_methods_on_an_http_request_say_so() -> None:
    from tests.conftest import call, http_scope

    router = Router()
    messages: list[str] = []

    @router.get("/")
    async def index(conn: Connection) -> str:
        for action in (conn.accept(), conn.send_text("x"), conn.receive_text(), conn.close()):
            try:
                await action
            except WebSocketStateError as exc:
                messages.append(str(exc))
        try:
            conn.ws_state  # noqa: B018
        except WebSocketStateError as exc:
            messages.append(str(exc))
        return "ok"

    recorder = await call(aaf(router), http_scope("/"))
    assert recorder.body == b"ok"
    assert len(messages) == 5
    assert all("this is an HTTP request, not a WebSocket" in m for m in messages)


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 5000])
async def test_close_refuses_codes_that_cannot_be_sent(code: int) -> None:
    router = Router()
    errors: list[str] = []

    @router.websocket("/c")
    async def closer(conn: Connection) -> None:
        await conn.accept()
        try:
            await conn.close(code)
        except ValueError as exc:
            errors.append(str(exc))

    driver = await drive(aaf(router), ws_scope("/c"))
    assert f"close code {code} cannot be sent" in errors[0]
    assert driver.close["code"] == 1000  # the app's own closing still happens


async def test_close_refuses_a_reason_longer_than_a_close_frame() -> None:
    router = Router()
    errors: list[str] = []

    @router.websocket("/c")
    async def closer(conn: Connection) -> None:
        await conn.accept()
        try:
            await conn.close(1000, "é" * 62)  # 124 bytes
        except ValueError as exc:
            errors.append(str(exc))

    await drive(aaf(router), ws_scope("/c"))
    assert "at most 123 UTF-8 bytes" in errors[0]


def test_clip_reason_keeps_whole_characters() -> None:
    assert clip_reason("short") == "short"
    clipped = clip_reason("é" * 100)
    assert clipped == "é" * 61
    assert len(clipped.encode()) == 122


# ---------------------------------------------------------------------------- message size limit
def limited_app() -> Any:
    router = Router()
    received: list[Any] = []

    @router.websocket("/default")
    async def default(conn: Connection) -> None:
        await conn.accept()
        received.extend([item async for item in conn.iter_text()])

    @router.websocket("/small", limits=Limits(max_websocket_message=10))
    async def small(conn: Connection) -> None:
        await conn.accept()
        while True:
            message = await conn.receive()
            received.append(message)
            if message["type"] == "websocket.disconnect":
                return

    @router.websocket("/small-bytes", limits=Limits(max_websocket_message=10))
    async def small_bytes(conn: Connection) -> None:
        await conn.accept()
        received.extend([item async for item in conn.iter_bytes()])

    app = aaf(router, limits=Limits(max_websocket_message=4 * KiB))
    app.state["received"] = received
    return app


async def test_app_limit_closes_1009_and_never_hands_the_message_over() -> None:
    app = limited_app()
    big = "x" * (4 * KiB + 1)
    driver = await drive(app, ws_scope("/default"), [CONNECT, text("ok"), text(big), text("after")])
    assert app.state["received"] == ["ok"]
    assert driver.close["code"] == 1009
    assert "4096-byte limit" in driver.close["reason"]


async def test_limit_counts_utf8_bytes_not_characters() -> None:
    app = limited_app()
    # 1366 three-byte characters: 4098 bytes, although only 1366 characters.
    driver = await drive(app, ws_scope("/default"), [CONNECT, text("€" * 1365), text("€" * 1366)])
    assert app.state["received"] == ["€" * 1365]
    assert driver.close["code"] == 1009


async def test_route_limit_overrides_the_app_limit_for_raw_and_binary_messages() -> None:
    app = limited_app()
    driver = await drive(
        app, ws_scope("/small"), [CONNECT, text("0123456789"), text("0123456789A")]
    )
    assert app.state["received"] == [
        {"type": "websocket.receive", "text": "0123456789"},
        {
            "type": "websocket.disconnect",
            "code": 1009,
            "reason": "message larger than the 10-byte limit",
        },
    ]
    assert driver.close["code"] == 1009
    app = limited_app()
    driver = await drive(
        app, ws_scope("/small-bytes"), [CONNECT, binary(b"0" * 10), binary(b"0" * 11)]
    )
    assert app.state["received"] == [b"0" * 10]
    assert driver.close["code"] == 1009


def test_oversized_message_seen_from_the_test_client() -> None:
    with TestClient(limited_app()) as client, client.websocket_connect("/small") as ws:
        ws.send_text("x" * 11)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1009


def test_default_limit_is_one_mebibyte() -> None:
    router = Router()
    sizes: list[int] = []

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        await conn.accept()
        sizes.extend([len(item) async for item in conn.iter_bytes()])

    with TestClient(aaf(router)) as client, client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"x" * (1024 * 1024))
        ws.send_bytes(b"x" * (1024 * 1024 + 1))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1009
    assert sizes == [1024 * 1024]


# ------------------------------------------------------------------------ odd servers and states
async def test_protocol_surprises_from_the_server_are_errors() -> None:
    router = Router()

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        await conn.accept()
        await conn.receive()

    app = aaf(router)
    # A server that skips websocket.connect: accept() refuses to go on (a 500 denial).
    driver = await drive(app, ws_scope("/ws"), [text("no connect first")])
    assert driver.sent[0]["status"] == 500
    # A server that sends an HTTP event on a WebSocket: the handler fails, 1011.
    driver = await drive(app, ws_scope("/ws"), [CONNECT, {"type": "http.request"}])
    assert driver.close["code"] == 1011


async def test_closing_when_the_client_is_already_gone_is_quiet() -> None:
    router = Router()
    states: list[WebSocketState] = []

    @router.websocket("/ws")
    async def ws_handler(conn: Connection) -> None:
        await conn.accept()
        await conn.close(1000)
        states.append(conn.ws_state)

    sent: list[Message] = []

    async def receive() -> Message:
        return CONNECT

    async def send(message: Message) -> None:
        if message["type"] == "websocket.close":
            raise OSError("peer gone")
        sent.append(message)

    await aaf(router)(ws_scope("/ws"), receive, send)
    assert states == [WebSocketState.DISCONNECTED]
    assert [m["type"] for m in sent] == ["websocket.accept"]


async def test_errors_after_the_client_left_send_nothing(caplog: pytest.LogCaptureFixture) -> None:
    router = Router()

    @router.websocket("/http-error")
    async def http_error(conn: Connection) -> None:
        await conn.accept()
        await conn.receive()
        raise HTTPError(400)

    @router.websocket("/bug")
    async def bug(conn: Connection) -> None:
        await conn.accept()
        await conn.receive()
        raise RuntimeError("after the client left")

    @router.websocket("/data-error")
    async def data_error(conn: Connection) -> None:
        raise WebSocketDataError("refused before accept", 1003)

    app = aaf(router)
    assert (await drive(app, ws_scope("/http-error"))).types == ["websocket.accept"]
    with caplog.at_level(logging.ERROR, logger="aaf.error"):
        assert (await drive(app, ws_scope("/bug"))).types == ["websocket.accept"]
    assert "after the client left" in caplog.text
    driver = await drive(app, ws_scope("/data-error"))
    assert driver.sent[0]["status"] == 400  # before accept: a refusal


@pytest.mark.parametrize("method", ["send_text", "send_bytes", "send_json"])
async def test_every_send_method_reports_a_gone_peer_as_a_disconnect(method: str) -> None:
    router = Router()
    codes: list[int] = []
    payload: dict[str, Any] = {"send_text": "t", "send_bytes": b"b", "send_json": {}}

    @router.websocket("/push")
    async def push(conn: Connection) -> None:
        await conn.accept()
        for _ in range(2):
            try:
                await getattr(conn, method)(payload[method])
            except WebSocketDisconnect as exc:
                codes.append(exc.code)

    await drive(aaf(router), ws_scope("/push"), send_error=True)
    assert codes == [1006, 1006]  # abnormal closure: the server's error, then the known state
