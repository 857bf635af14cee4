"""Noticing disconnects: wait_disconnect, is_disconnected, run_until_disconnect, the watcher."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from aaf import BodyStateError, Connection, ResponseStateError, Router, aaf
from aaf._disconnect import DisconnectWatcher
from aaf._types import Message
from aaf.testing import TestClient
from tests.conftest import call, http_scope
from tests.support.scripted_server import Server, start
from tests.support.ws import drive, ws_scope


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
