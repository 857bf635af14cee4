"""Typed WebSocket messages: ``conn.iter_as`` / ``receive_as`` / ``send_as`` (issue 10)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from aaf import Connection, Router, WebSocketDisconnect, aaf
from aaf._ws_typed import decode_message, unexpected_send_type
from aaf.testing import TestClient, WebSocketSession
from aaf.websocket import MAX_REASON_BYTES
from tests.support.servers import serve
from tests.support.typed_ws_app import ChatIn, ChatOut, Presence, Typing, app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def closed_with(client: TestClient, path: str, *messages: str | bytes) -> WebSocketDisconnect:
    """Connect, send ``messages`` and return how the app closed the socket."""
    with client.websocket_connect(path) as ws:
        for message in messages:
            if isinstance(message, bytes):
                ws.send_bytes(message)
            else:
                ws.send_text(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            read_until_closed(ws)
    return closed.value


def read_until_closed(ws: WebSocketSession) -> None:
    while True:
        ws.receive_json()


# ---------------------------------------------------------------------------- valid messages
def test_the_route_type_is_the_default_and_unions_decode_by_tag(client: TestClient) -> None:
    with client.websocket_connect("/chat/lobby/7") as ws:
        assert ws.receive_json() == {"room": "lobby", "members": ["seat-7"], "kind": "presence"}
        ws.send_text('{"type": "typing", "active": true}')  # a Typing: nothing comes back
        ws.send_bytes(b'{"type": "say", "text": "hi"}')  # binary JSON is decoded the same
        assert ws.receive_json() == {"room": "lobby", "author": "seat-7", "text": "hi"}


def test_an_explicit_type(client: TestClient) -> None:
    with client.websocket_connect("/echo") as ws:
        ws.send_text('{"type": "say", "text": "hello"}')
        assert ws.receive_json() == {"room": "echo", "author": "server", "text": "hello"}
        ws.send_text('{"type": "say", "text": "again"}')
        assert ws.receive_json()["text"] == "again"


# ---------------------------------------------------------------------------- invalid messages
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"type": "say", "text": 5}', "$.text: Expected `str`, got `int`"),
        ('{"type": "say", "text": ""}', "$.text: Expected `str` of length >= 1"),
        ('{"type": "say"}', "$: Object missing required field `text`"),
        ('{"type": "shout", "text": "x"}', "$.type: Invalid value 'shout'"),
        ("{oops", "invalid JSON: "),
        ("[[1, 2]", "$: Expected `object`, got `array`"),  # types are checked as it reads
        ('{"type": "say", "text": "x"', "invalid JSON: Input data was truncated"),
    ],
)
def test_a_message_that_does_not_decode_closes_with_1007_naming_the_field(
    client: TestClient, payload: str, reason: str
) -> None:
    closed = closed_with(client, "/echo", payload)
    assert closed.code == 1007
    assert closed.reason.startswith(reason)


def test_json_nested_too_deeply_or_not_utf8_is_the_clients_error() -> None:
    with pytest.raises(ValueError, match="invalid JSON: nested too deeply"):
        decode_message(Any, "[" * 100_000)
    with pytest.raises(ValueError, match="invalid JSON: not valid UTF-8"):
        decode_message(Any, b'"\xff"')


def test_a_union_message_with_a_bad_field_names_it(client: TestClient) -> None:
    with client.websocket_connect("/chat/r/1") as ws:
        ws.receive_json()
        ws.send_text('{"type": "typing", "active": "yes"}')
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert (closed.value.code, closed.value.reason) == (
        1007,
        "$.active: Expected `bool`, got `str`",
    )


def test_a_long_reason_is_cut_to_the_close_frame_limit_on_a_character_boundary() -> None:
    field = "é" * 100  # 200 UTF-8 bytes: the cut falls inside a character unless it is careful
    Wide = msgspec.defstruct("Wide", [(field, int)])
    router = Router()

    @router.websocket("/wide", receives=Wide)
    async def wide(conn: Connection) -> None:
        await conn.accept()
        async for _ in conn.iter_as():
            pass

    with TestClient(aaf([router])) as client:
        closed = closed_with(client, "/wide", "{}")
    assert closed.code == 1007
    encoded = closed.reason.encode()
    assert MAX_REASON_BYTES - 1 <= len(encoded) <= MAX_REASON_BYTES
    assert closed.reason.startswith("$: Object missing required field `éé")


def test_an_oversized_message_is_refused_before_decoding(client: TestClient) -> None:
    closed = closed_with(client, "/echo", '{"type": "say", "text": "' + "x" * 100 + '"}')
    assert closed.code == 1009
    assert "64-byte limit" in closed.reason


def test_the_handler_can_catch_a_bad_message_and_answer_it() -> None:
    from aaf.websocket import WebSocketDataError

    router = Router()

    @router.websocket("/lenient", receives=ChatIn)
    async def lenient(conn: Connection) -> None:
        await conn.accept()
        while True:
            try:
                message = await conn.receive_as()
            except WebSocketDataError as exc:
                await conn.send_json({"error": str(exc), "code": exc.close_code})
                continue
            except WebSocketDisconnect:
                return
            await conn.send_json({"ok": message.text})

    with TestClient(aaf([router])) as client, client.websocket_connect("/lenient") as ws:
        ws.send_text('{"type": "say", "text": 1}')
        assert ws.receive_json() == {"error": "$.text: Expected `str`, got `int`", "code": 1007}
        ws.send_text('{"type": "say", "text": "fine"}')
        assert ws.receive_json() == {"ok": "fine"}


# ---------------------------------------------------------------------------- misuse
def test_iter_as_without_a_type_anywhere_says_how_to_give_one(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aaf.error"):
        closed = closed_with(client, "/untyped", '{"a": 1}')
    assert closed.code == 1011
    assert "receives=ChatIn" in caplog.text
    assert "needs a message type" in caplog.text


def test_send_as_refuses_a_type_the_route_does_not_declare(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="aaf.error"):
        closed = closed_with(client, "/wrong-type")
    assert closed.code == 1011
    assert "send_as() got Presence, but the route declares sends=ChatOut" in caplog.text


def test_the_sends_check_covers_classes_and_unions_only() -> None:
    assert unexpected_send_type(ChatOut, ChatOut("r", "a", "t")) is None
    assert unexpected_send_type(ChatOut | Presence, Presence("r", [])) is None
    assert unexpected_send_type(ChatOut | Presence, Typing(True)) is not None
    assert unexpected_send_type(ChatOut, {"room": "r"}) is not None
    # Not checkable with one isinstance: left to the type checker.
    assert unexpected_send_type(list[ChatOut], "anything") is None


def test_send_as_encodes_dataclasses_and_plain_values() -> None:
    from dataclasses import dataclass

    @dataclass
    class Point:
        x: int
        y: int

    router = Router()

    @router.websocket("/points")
    async def points(conn: Connection) -> None:
        await conn.accept()
        await conn.send_as(Point(1, 2))
        await conn.send_as([1, "two"])

    with TestClient(aaf([router])) as client, client.websocket_connect("/points") as ws:
        assert ws.receive_json() == {"x": 1, "y": 2}
        assert ws.receive_text() == '[1,"two"]'


def test_decoders_are_built_once_per_type(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real = msgspec.json.Decoder

    def counting(message_type: Any) -> Any:
        built.append(message_type)
        return real(message_type)

    from aaf import _ws_typed

    _ws_typed._decoder.cache_clear()
    monkeypatch.setattr(msgspec.json, "Decoder", counting)
    for _ in range(50):
        decode_message(ChatIn, '{"type": "say", "text": "x"}')
    assert built == [ChatIn]
    _ws_typed._decoder.cache_clear()


# ---------------------------------------------------------------------------- real server
@pytest.fixture(scope="module")
def ws_url() -> Iterator[str]:
    with serve("tests.support.typed_ws_app:app") as url:
        yield url.replace("http://", "ws://")


@pytest.mark.integration
async def test_1007_with_the_field_over_a_real_socket(ws_url: str) -> None:
    async with connect(f"{ws_url}/chat/lobby/3", proxy=None) as ws:
        assert msgspec.json.decode(await ws.recv())["members"] == ["seat-3"]
        await ws.send('{"type": "say", "text": "hi"}')
        assert msgspec.json.decode(await ws.recv())["text"] == "hi"
        await ws.send('{"type": "say", "text": 12}')
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
    assert closed.value.rcvd.reason == "$.text: Expected `str`, got `int`"
