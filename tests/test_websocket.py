"""WebSockets on Connection: routing, handshake, messages, state guards, limits, errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import (
    Connection,
    ConnectionType,
    HTTPError,
    HttpResponse,
    Limits,
    ResponseStateError,
    Router,
    WebSocketDisconnect,
    aaf,
)
from aaf._types import Message
from aaf.limits import KiB
from aaf.testing import AsyncTestClient, TestClient, WebSocketDenied
from aaf.websocket import WebSocketDataError, WebSocketState, WebSocketStateError, clip_reason
from tests.support.ws import CONNECT, binary, drive, text, ws_scope


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
    assert driver.close == {"type": "websocket.close", "code": 1011, "reason": "try later"}


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
