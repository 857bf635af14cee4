"""Noticing disconnects: wait_disconnect, is_disconnected, run_until_disconnect, streaming."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aaf import BodyStateError, Connection, ResponseStateError, Router, StreamingResponse, aaf
from aaf._disconnect import DisconnectWatcher
from aaf._types import Message
from aaf.testing import AsyncTestClient, TestClient
from tests.conftest import call, http_scope, noop_receive
from tests.support.ws import drive, ws_scope


class Server:
    """A scripted server for one request: the body, then a disconnect when told."""

    def __init__(self, body: list[bytes] | None = None) -> None:
        self.body = list(body if body is not None else [b""])
        self.gone = asyncio.Event()
        self.sent: list[Message] = []
        self.sent_twice = asyncio.Event()

    async def receive(self) -> Message:
        if self.body:
            chunk = self.body.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.body)}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if len(self.sent) == 2:
            self.sent_twice.set()

    @property
    def body_sent(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


async def start(app: Any, server: Server, **scope: Any) -> asyncio.Task[None]:
    return asyncio.ensure_future(app(http_scope(**scope), server.receive, server.send))


# ---------------------------------------------------------------------------- handler helpers
async def test_wait_disconnect_returns_when_the_client_leaves() -> None:
    router = Router()
    order: list[str] = []

    @router.get("/wait")
    async def wait(conn: Connection) -> None:
        await conn.send("waiting", finish=False)
        order.append("before")
        await conn.wait_disconnect()
        order.append("after")

    server = Server()
    task = await start(aaf(router), server, path="/wait")
    await asyncio.sleep(0.01)
    assert order == ["before"]
    server.gone.set()
    await asyncio.wait_for(task, 1)
    assert order == ["before", "after"]
    assert server.body_sent == b"waiting"


async def test_is_disconnected_reports_the_client_state() -> None:
    router = Router()
    seen: list[bool] = []
    polled = asyncio.Event()

    @router.get("/poll")
    async def poll(conn: Connection) -> str:
        seen.append(await conn.is_disconnected())
        polled.set()
        while not await conn.is_disconnected():  # noqa: ASYNC110 - polling is what is tested
            await asyncio.sleep(0.001)
        seen.append(True)
        return "nobody reads this"

    server = Server()
    task = await start(aaf(router), server, path="/poll")
    await asyncio.wait_for(polled.wait(), 1)
    server.gone.set()
    await asyncio.wait_for(task, 1)
    assert seen == [False, True]


async def test_is_disconnected_sees_a_disconnect_that_is_already_queued() -> None:
    router = Router()
    seen: list[bool] = []

    @router.get("/late")
    async def late(conn: Connection) -> None:
        seen.append(await conn.is_disconnected())

    server = Server()
    server.gone.set()  # the client left before the handler asked
    await asyncio.wait_for(start_and_wait(aaf(router), server, "/late"), 1)
    assert seen == [True]


async def start_and_wait(app: Any, server: Server, path: str) -> None:
    await app(http_scope(path), server.receive, server.send)


async def test_run_until_disconnect_returns_the_result_when_the_work_wins() -> None:
    router = Router()

    @router.get("/quick")
    async def quick(conn: Connection) -> dict[str, Any]:
        async def work() -> int:
            return 42

        return {"result": await conn.run_until_disconnect(work())}

    with TestClient(aaf(router)) as client:
        assert client.get("/quick").json() == {"result": 42}


async def test_run_until_disconnect_cancels_long_work_and_returns_the_default() -> None:
    router = Router()
    cleaned = asyncio.Event()
    results: list[Any] = []

    @router.get("/slow")
    async def slow(conn: Connection) -> None:
        async def work() -> str:
            try:
                await asyncio.Event().wait()
                return "never"
            finally:
                cleaned.set()

        await conn.send("started", finish=False)
        results.append(await conn.run_until_disconnect(work(), default="gone"))

    server = Server()
    task = await start(aaf(router), server, path="/slow")
    await asyncio.sleep(0.01)
    server.gone.set()
    await asyncio.wait_for(task, 1)
    assert cleaned.is_set()
    assert results == ["gone"]


async def test_run_until_disconnect_passes_errors_through() -> None:
    router = Router()

    @router.get("/fails")
    async def fails(conn: Connection) -> None:
        async def work() -> None:
            raise LookupError("from the work")

        await conn.run_until_disconnect(work())

    recorder = await call(aaf(router), http_scope("/fails"))
    assert recorder.status == 500


async def test_run_until_disconnect_when_the_caller_is_cancelled_cancels_the_work() -> None:
    cleaned = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()

    server = Server()
    watcher = DisconnectWatcher(server.receive)
    caller = asyncio.ensure_future(watcher.run(work(), None))
    await asyncio.sleep(0.01)
    caller.cancel()
    await asyncio.wait({caller})
    assert cleaned.is_set()
    await watcher.stop()
    await watcher.stop()  # twice is fine


async def test_the_body_is_read_and_kept_before_watching() -> None:
    router = Router()

    @router.post("/upload")
    async def upload(conn: Connection) -> dict[str, Any]:
        gone = await conn.is_disconnected()
        return {"gone": gone, "body": (await conn.body()).decode()}

    with TestClient(aaf(router)) as client:
        response = client.post("/upload", content=b"abc" * 1000)
    assert response.json() == {"gone": False, "body": "abc" * 1000}


async def test_a_client_that_leaves_during_the_body_counts_as_gone() -> None:
    router = Router()
    seen: list[Any] = []

    @router.post("/upload")
    async def upload(conn: Connection) -> None:
        seen.append(await conn.is_disconnected())

        async def work() -> str:
            return "done"

        seen.append(await conn.run_until_disconnect(work(), default=False))

    messages: list[dict[str, Any]] = [{"type": "http.disconnect"}]
    await call(aaf(router), http_scope("/upload", method="POST"), messages)
    assert seen == [True, False]


async def test_an_oversized_body_still_gets_its_413() -> None:
    router = Router()

    @router.post("/upload")
    async def upload(conn: Connection) -> None:
        await conn.wait_disconnect()

    messages: list[dict[str, Any]] = [{"type": "http.request", "body": b"x" * (2 * 1024 * 1024)}]
    recorder = await call(aaf(router), http_scope("/upload", method="POST"), messages)
    assert recorder.status == 413


async def test_watching_while_the_body_is_streamed_is_refused() -> None:
    router = Router()
    errors: list[str] = []

    @router.post("/stream")
    async def stream(conn: Connection) -> str:
        async for _ in conn.body_iter():
            for attempt in (conn.wait_disconnect(), conn.run_until_disconnect(asyncio.sleep(0))):
                try:
                    await attempt
                except BodyStateError as exc:
                    errors.append(str(exc))
            break
        return "ok"

    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b"},
    ]
    recorder = await call(aaf(router), http_scope("/stream", method="POST"), messages)
    assert recorder.body == b"ok"
    assert len(errors) == 2
    assert all("while the request body is being streamed" in e for e in errors)


async def test_disconnect_helpers_are_for_http() -> None:
    router = Router()
    errors: list[str] = []

    @router.websocket("/ws")
    async def ws(conn: Connection) -> None:
        try:
            await conn.wait_disconnect()
        except ResponseStateError as exc:
            errors.append(str(exc))

    await drive(aaf(router), ws_scope("/ws"))
    assert "disconnect detection is for HTTP responses" in errors[0]


async def test_the_watcher_stops_with_the_request() -> None:
    router = Router()
    conns: list[Connection] = []

    @router.get("/x")
    async def x(conn: Connection) -> str:
        conns.append(conn)
        await conn.is_disconnected()
        return "done"

    before = len(asyncio.all_tasks())
    with TestClient(aaf(router)) as client:
        assert client.get("/x").text == "done"
    assert before == len(asyncio.all_tasks())
    watcher = conns[0]._watcher
    assert watcher._task is None  # stopped by on_finish


async def test_a_failing_receive_counts_as_gone(caplog: pytest.LogCaptureFixture) -> None:
    async def broken_receive() -> Message:
        raise RuntimeError("server lost the connection")

    with caplog.at_level(logging.DEBUG, logger="aaf.error"):
        watcher = DisconnectWatcher(broken_receive)
        await asyncio.wait_for(watcher.gone.wait(), 1)
    assert "receive() failed" in caplog.records[0].getMessage()


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


async def test_work_is_not_started_once_the_client_is_gone() -> None:
    watcher = DisconnectWatcher(None)  # created for a client known to be gone
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    started: list[str] = []

    async def work() -> str:
        started.append("yes")
        return "ran"

    assert await watcher.run(work(), "default") == "default"
    assert await watcher.run(future, "default") == "default"
    assert future.cancelled()
    assert started == []


async def test_a_body_read_before_watching_is_not_read_again() -> None:
    router = Router()

    @router.post("/read-first")
    async def read_first(conn: Connection) -> dict[str, Any]:
        body = await conn.body()
        return {"body": body.decode(), "gone": await conn.is_disconnected()}

    with TestClient(aaf(router)) as client:
        assert client.post("/read-first", content=b"xyz").json() == {"body": "xyz", "gone": False}


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
