"""Disconnects while streaming: StreamingResponse and conn.send stop when the client leaves."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aaf import Connection, Router, StreamingResponse, aaf
from aaf._types import Message
from aaf.testing import AsyncTestClient, TestClient
from tests.conftest import call, http_scope, noop_receive
from tests.support.scripted_server import Server, start


# ---------------------------------------------------------------------------- streaming responses
def streaming_app(probe: dict[str, Any]) -> Any:
    router = Router()

    @router.get("/async")
    async def async_stream(conn: Connection) -> StreamingResponse:
        async def chunks() -> AsyncIterator[str]:
            try:
                yield "first\n"
                await asyncio.Event().wait()
                yield "never\n"
            finally:
                probe["async_closed"].set()

        return StreamingResponse(chunks(), media_type="text/plain")

    @router.get("/sync")
    async def sync_stream(conn: Connection) -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            try:
                yield b"first\n"
                probe["sync_blocked"].wait(5)  # a blocking step, in a worker thread
                yield b"second\n"
                yield b"never\n"
            finally:
                probe["sync_closed"].set()

        return StreamingResponse(chunks())

    @router.get("/imperative")
    async def imperative(conn: Connection) -> None:
        for i in range(3):
            await conn.send(f"count {i}\n", finish=False)
        await conn.send("", finish=True)

    @router.post("/upper")
    async def upper(conn: Connection) -> StreamingResponse:
        # Streams the request body into the response: the body reader sees disconnects.
        body = conn.body_iter()  # claims the body before the response is returned

        async def chunks() -> AsyncIterator[bytes]:
            async for chunk in body:
                yield chunk.upper()

        return StreamingResponse(chunks())

    @router.get("/plain")
    async def plain(conn: Connection) -> StreamingResponse:
        chunks: list[str | bytes] = [b"a", b"", "b"]
        return StreamingResponse(iter(chunks))

    return aaf(router)


def probes() -> dict[str, Any]:
    return {
        "async_closed": asyncio.Event(),
        "sync_closed": threading.Event(),
        "sync_blocked": threading.Event(),
    }


async def test_streaming_response_stops_an_async_generator_when_the_client_leaves() -> None:
    probe = probes()
    async with (
        AsyncTestClient(streaming_app(probe)) as client,
        client.stream("GET", "/async") as response,
    ):
        async for line in response.aiter_lines():
            assert line == "first"
            break
        await asyncio.wait_for(asyncio.gather(response.aclose(), probe["async_closed"].wait()), 1)


async def test_streaming_response_closes_a_sync_iterator_after_its_current_step() -> None:
    probe = probes()
    server = Server()
    task = await start(streaming_app(probe), server, path="/sync")
    await asyncio.wait_for(server.sent_twice.wait(), 1)  # the start and the first chunk
    server.gone.set()
    await asyncio.wait_for(task, 1)  # the response ends without waiting for the thread
    assert not probe["sync_closed"].is_set()
    probe["sync_blocked"].set()  # the step in the worker thread returns...
    assert await asyncio.to_thread(probe["sync_closed"].wait, 1)  # ...and the iterator is closed
    assert server.body_sent == b"first\n"


def test_imperative_streaming_keeps_working() -> None:
    with TestClient(streaming_app(probes())) as client:
        response = client.get("/imperative")
    assert response.text == "count 0\ncount 1\ncount 2\n"


def test_streaming_the_request_body_into_the_response() -> None:
    with TestClient(streaming_app(probes())) as client:
        assert client.post("/upper", content=b"abc").content == b"ABC"
        assert client.get("/plain").content == b"ab"
        head = client.head("/async")
    assert head.status_code == 200
    assert head.content == b""


async def test_streaming_response_as_an_asgi_app_stops_on_disconnect() -> None:
    closed = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        try:
            yield b"one"
            await asyncio.Event().wait()
        finally:
            closed.set()

    server = Server(body=[b"ignored", b"body"])
    task = asyncio.ensure_future(
        StreamingResponse(chunks())(http_scope(), server.receive, server.send)
    )
    await asyncio.wait_for(server.sent_twice.wait(), 1)
    server.gone.set()
    await asyncio.wait_for(task, 1)
    assert closed.is_set()
    assert server.body_sent == b"one"


async def test_a_send_failure_ends_the_stream_quietly(caplog: pytest.LogCaptureFixture) -> None:
    closed = asyncio.Event()
    router = Router()

    @router.get("/s")
    async def stream(conn: Connection) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"x"
                    await asyncio.sleep(0)
            finally:
                closed.set()

        return StreamingResponse(chunks())

    server = Server()
    count = 0

    async def failing_send(message: Message) -> None:
        nonlocal count
        count += 1
        if count > 3:
            raise OSError("connection reset")  # what a server says once the peer is gone
        server.sent.append(message)

    with caplog.at_level(logging.WARNING):
        await asyncio.wait_for(aaf(router)(http_scope("/s"), server.receive, failing_send), 1)
    assert closed.is_set()
    assert server.body_sent == b"xx"
    assert caplog.records == []


async def test_a_send_failure_is_a_disconnect_through_the_connection() -> None:
    from aaf import ClientDisconnect

    async def failing_send(message: Message) -> None:
        if message["type"] == "http.response.body":
            raise OSError("gone")

    # Used without a connection, the server's OSError is left to the server; through a
    # connection (conn.asgi_send, what responses are sent with) it is a ClientDisconnect.
    with pytest.raises(OSError, match="gone"):
        await StreamingResponse([b"a"]).emit(http_scope(), failing_send)
    conn = Connection(http_scope(), noop_receive, failing_send)
    with pytest.raises(ClientDisconnect):
        await StreamingResponse([b"a"]).emit(conn.scope, conn.asgi_send)


async def test_streaming_while_the_body_is_still_being_read() -> None:
    router = Router()

    @router.post("/rest")
    async def rest(conn: Connection) -> StreamingResponse:
        chunks = conn.body_iter()
        first = await anext(chunks)  # the body is now being streamed: no watcher possible

        async def body() -> AsyncIterator[bytes]:
            yield first
            async for chunk in chunks:
                yield chunk

        return StreamingResponse(body())

    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b"},
    ]
    recorder = await call(aaf(router), http_scope("/rest", method="POST"), messages)
    assert recorder.body == b"ab"


async def test_streaming_response_as_an_asgi_app_answers_head_without_a_body() -> None:
    recorder = await call(StreamingResponse([b"body"]), http_scope(method="HEAD"))
    assert recorder.status == 200
    assert recorder.body == b""
    assert recorder.received == 0  # no watcher for a response without a body
