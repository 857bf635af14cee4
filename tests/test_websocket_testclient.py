"""The test client's WebSocket sessions against raw ASGI apps: what each misbehaviour looks like."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from aaf import WebSocketDisconnect
from aaf._types import Message, Scope
from aaf.testing import AsyncTestClient, TestClient, WebSocketDenied

Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def raw(script: Callable[[Receive, Send], Awaitable[None]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        await script(receive, send)

    return app


async def accept(receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept", "headers": [(b"x-a", b"1")]})


async def test_scope_looks_like_a_servers() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope)
        await accept(receive, send)

    client = AsyncTestClient(app, headers={"user-agent": "tests"}, cookies={"sid": "1"})
    async with client, client.websocket_connect("/a%20b?q=1", ["p1", "p2"], {"x-h": "v"}) as ws:
        assert ws.accept_headers["x-a"] == "1"
        assert ws.accepted_subprotocol is None
    headers = dict(seen["headers"])
    assert seen["path"] == "/a b"
    assert seen["raw_path"] == b"/a%20b"
    assert seen["query_string"] == b"q=1"
    assert seen["scheme"] == "ws"
    assert seen["subprotocols"] == ["p1", "p2"]
    assert headers[b"sec-websocket-protocol"] == b"p1, p2"
    assert headers[b"x-h"] == b"v"
    assert headers[b"cookie"] == b"sid=1"
    assert headers[b"upgrade"] == b"websocket"
    assert "websocket.http.response" in seen["extensions"]


async def test_an_app_that_returns_without_answering_the_handshake() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await receive()

    async with AsyncTestClient(raw(script)) as client:
        with pytest.raises(RuntimeError, match="returned without accepting or denying"):
            async with client.websocket_connect("/"):
                pass


async def test_unexpected_messages_during_the_handshake() -> None:
    async def sends_data_first(receive: Receive, send: Send) -> None:
        await send({"type": "websocket.send", "text": "too early"})

    async def unfinished_denial(receive: Receive, send: Send) -> None:
        await send({"type": "websocket.http.response.start", "status": 400, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"part", "more_body": True})

    # Deliberately broken apps: check=False shows what the session itself makes of them (the
    # conformance checker refuses both; see tests/test_inspect.py).
    async with AsyncTestClient(raw(sends_data_first), check=False) as client:
        with pytest.raises(
            RuntimeError, match=r"unexpected 'websocket\.send' before the handshake"
        ):
            async with client.websocket_connect("/"):
                pass
    async with AsyncTestClient(raw(unfinished_denial), check=False) as client:
        with pytest.raises(RuntimeError, match="ended without its last body message"):
            async with client.websocket_connect("/"):
                pass


async def test_a_denial_in_several_parts_is_joined() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await send({"type": "websocket.http.response.start", "status": 429, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"slow ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"down"})

    async with AsyncTestClient(raw(script)) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/"):
                pass
    assert (denied.value.status_code, denied.value.text) == (429, "slow down")


async def test_an_app_error_during_the_handshake_reaches_the_test() -> None:
    async def script(receive: Receive, send: Send) -> None:
        raise LookupError("app bug")

    async with AsyncTestClient(raw(script)) as client:
        with pytest.raises(LookupError, match="app bug"):
            async with client.websocket_connect("/"):
                pass


async def test_waits_are_bounded() -> None:
    async def silent(receive: Receive, send: Send) -> None:
        await asyncio.Event().wait()

    async def deaf(receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await asyncio.Event().wait()  # never reads the disconnect

    async with AsyncTestClient(raw(silent)) as client:
        with pytest.raises(
            TimeoutError, match=r"sent nothing within 0.05s \(waiting for the handshake"
        ):
            async with client.websocket_connect("/", timeout=0.05):
                pass
    async with AsyncTestClient(raw(deaf)) as client:
        session = await client.websocket_connect("/", timeout=0.05).__aenter__()
        with pytest.raises(TimeoutError, match="waiting for a message"):
            await session.receive()
        with pytest.raises(TimeoutError, match=r"did not return within 0\.05s of the disconnect"):
            await session.close()


async def test_messages_the_session_cannot_give_as_asked() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await send({"type": "websocket.send", "bytes": b"\x01"})
        await send({"type": "websocket.send", "text": "t"})
        await send({"type": "websocket.send", "bytes": b'{"j": 1}'})
        await send({"type": "websocket.http.response.start", "status": 200})

    # A deliberately broken app (a denial after accept): check=False lets the session see it.
    client = AsyncTestClient(raw(script), check=False)
    async with client, client.websocket_connect("/") as ws:
        with pytest.raises(TypeError, match="expected a text message, got bytes"):
            await ws.receive_text()
        with pytest.raises(TypeError, match="expected a binary message, got text"):
            await ws.receive_bytes()
        assert await ws.receive_json() == {"j": 1}
        with pytest.raises(RuntimeError, match=r"unexpected 'websocket\.http\.response\.start'"):
            await ws.receive()


async def test_an_app_that_returns_without_closing_looks_like_an_abnormal_close() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await accept(receive, send)

    async with AsyncTestClient(raw(script)) as client, client.websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive()
    assert closed.value.code == 1006


async def test_sends_after_the_client_left_fail_in_the_app_like_on_a_server() -> None:
    errors: list[str] = []

    async def script(receive: Receive, send: Send) -> None:
        await accept(receive, send)
        assert (await receive())["type"] == "websocket.disconnect"
        assert (await receive())["type"] == "websocket.disconnect"  # and stays so
        try:
            await send({"type": "websocket.send", "text": "anyone?"})
        except OSError as exc:
            errors.append(str(exc))

    # The app reads again after the disconnect on purpose (receive-after-disconnect): check=False.
    client = AsyncTestClient(raw(script), check=False)
    async with client, client.websocket_connect("/") as ws:
        await ws.close(1001)
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("after close")
    assert errors == ["the WebSocket client disconnected"]


async def test_app_errors_after_the_handshake_surface_when_the_session_ends() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await accept(receive, send)
        await receive()
        raise ValueError("late app bug")

    async with AsyncTestClient(raw(script)) as client:
        with pytest.raises(ValueError, match="late app bug"):
            async with client.websocket_connect("/"):
                pass
        # When the test itself failed, its own error is the one that propagates.
        with pytest.raises(KeyError):
            async with client.websocket_connect("/"):
                raise KeyError("the test's failure")


def test_sync_sessions_with_and_without_a_running_client() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await accept(receive, send)
        while (message := await receive())["type"] == "websocket.receive":
            if message.get("text") == "bye":
                await send({"type": "websocket.close", "code": 4000})
                return
            await send(
                {"type": "websocket.send", **{k: v for k, v in message.items() if k != "type"}}
            )

    client = TestClient(raw(script))
    with client.websocket_connect("/") as ws:  # no `with client`: a loop of its own
        ws.send({"type": "websocket.receive", "text": "raw"})
        assert ws.receive() == {"type": "websocket.send", "text": "raw"}
        ws.send_bytes(b"b")
        assert ws.receive_bytes() == b"b"
        ws.send_json([1])
        assert ws.receive_json() == [1]
        assert ws.accept_headers["x-a"] == "1"
        assert ws.accepted_subprotocol is None
        assert ws.close_code is None
        ws.close()
    with client, client.websocket_connect("/") as ws:
        ws.send_text("x")
        assert ws.receive_text() == "x"
        ws.send_text("bye")
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()
        assert ws.close_code == 4000


def test_a_sync_denial_outside_a_running_client_cleans_up() -> None:
    async def script(receive: Receive, send: Send) -> None:
        await send({"type": "websocket.close", "code": 1008})

    with pytest.raises(WebSocketDenied) as denied, TestClient(raw(script)).websocket_connect("/"):
        pass
    assert denied.value.status_code == 403
    assert denied.value.body == b""
