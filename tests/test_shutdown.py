"""The server's stop, in process: ``aaf._draining`` (signals chained, the stop flag), event
streams that end cleanly, WebSockets closed with 1001, and the idle bounds of long-lived routes.

The real servers are in ``test_shutdown_servers.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator, Iterator
from types import FrameType

import pytest

from aaf import Connection, EventSourceResponse, Router, ServerSentEvent, _draining, aaf
from aaf._draining import STOPPING, unwatch_signals, watch_signals
from aaf.testing import AsyncTestClient
from aaf.timeouts import timeout
from aaf.websocket import WebSocketDisconnect


@pytest.fixture(autouse=True)
def no_stop_left_over() -> Iterator[None]:
    STOPPING.clear()
    yield
    STOPPING.clear()
    unwatch_signals()


def streaming_app(log: list[str], **options: bool) -> Router:
    router = Router()

    @router.get("/feed")
    async def feed(conn: Connection) -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            try:
                yield ServerSentEvent("hello", event="greeting")
                await asyncio.Event().wait()  # nothing more until the stream is ended
            finally:
                log.append("producer closed")

        return EventSourceResponse(events(), ping_interval=None)

    @router.websocket("/echo")
    async def echo(conn: Connection) -> None:
        await conn.accept()
        try:
            async for text in conn.iter_text():
                await conn.send_text(text)
            # After the stop closed the socket, sending is what a leave would be: it ends.
            await conn.send_text("after the loop")
        except WebSocketDisconnect as exc:
            log.append(f"send after the stop: {exc.code}")
        finally:
            log.append("handler done")

    return router


# ---------------------------------------------------------------- event streams


async def test_the_stop_ends_an_open_event_stream_cleanly() -> None:
    log: list[str] = []
    app = aaf(streaming_app(log))
    async with AsyncTestClient(app) as client, client.stream("GET", "/feed") as response:
        chunks = response.aiter_bytes()
        assert b"data: hello" in await anext(chunks)
        STOPPING.set()
        # The rest of the body arrives and the response completes (no error, not cut).
        rest = [chunk async for chunk in chunks]
    assert rest == []
    assert log == ["producer closed"]


async def test_close_on_shutdown_false_leaves_event_streams_open() -> None:
    log: list[str] = []
    router = streaming_app(log)
    app = aaf(router, close_on_shutdown=False)
    async with AsyncTestClient(app) as client:
        # No lifespan hook watches the stop for this app; STOPPING set by someone else
        # still ends the stream, so the opt-out is about who sets it: the app never does.
        assert not app.lifecycle.watches_stop
        async with client.stream("GET", "/feed") as response:
            chunks = response.aiter_bytes()
            assert b"data: hello" in await anext(chunks)
    assert not STOPPING.is_set()


async def test_a_stream_started_after_the_stop_ends_at_once() -> None:
    log: list[str] = []
    STOPPING.set()
    async with AsyncTestClient(aaf(streaming_app(log))) as client:
        STOPPING.set()  # the client's lifespan startup cleared the earlier stop
        response = await client.get("/feed")
    assert response.status_code == 200
    assert response.text == ""
    assert log == []  # the producer was never started


async def test_an_idle_event_stream_ends_after_its_idle_timeout_pings_do_not_count() -> None:
    router = Router()

    @router.get("/quiet")
    async def quiet(conn: Connection) -> EventSourceResponse:
        async def events() -> AsyncIterator[str]:
            yield "first"
            await asyncio.Event().wait()
            yield "never"

        return EventSourceResponse(events(), ping_interval=0.02, idle_timeout=0.2)

    async with AsyncTestClient(aaf(router)) as client:
        response = await client.get("/quiet")
    assert response.status_code == 200
    assert response.text.startswith("data: first\n\n")
    assert response.text.count(": ping") >= 3  # pings went out, and did not reset the bound
    assert "never" not in response.text


def test_idle_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="idle_timeout must be > 0"):
        EventSourceResponse([], idle_timeout=0)


# ---------------------------------------------------------------- WebSockets


async def test_the_stop_closes_an_open_websocket_with_1001(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[str] = []
    async with (
        AsyncTestClient(aaf(streaming_app(log))) as client,
        client.websocket_connect("/echo") as ws,
    ):
        await ws.send_text("hi")
        assert await ws.receive_text() == "hi"
        with caplog.at_level(logging.DEBUG, logger="aaf"):
            STOPPING.set()
            with pytest.raises(WebSocketDisconnect) as closed:
                await ws.receive_text()
            assert (closed.value.code, closed.value.reason) == (1001, "server shutting down")
            await ws.close(1001)
    # iter_text() ended quietly; the send after it raised WebSocketDisconnect, as after a leave.
    assert log == ["send after the stop: 1001", "handler done"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_send_after_the_stop_raises_websocket_disconnect() -> None:
    log: list[str] = []
    router = Router()

    @router.websocket("/talker")
    async def talker(conn: Connection) -> None:
        await conn.accept()
        try:
            await asyncio.sleep(0.05)  # the stop closes the socket meanwhile
            await conn.send_text("too late")
        except WebSocketDisconnect as exc:
            log.append(f"{exc.code} {exc.reason}")

    async with AsyncTestClient(aaf(router)) as client, client.websocket_connect("/talker") as ws:
        STOPPING.set()
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive()
        assert closed.value.code == 1001
    assert log == ["1001 server shutting down"]


async def test_close_on_shutdown_false_leaves_websockets_open() -> None:
    log: list[str] = []
    async with (
        AsyncTestClient(aaf(streaming_app(log), close_on_shutdown=False)) as client,
        client.websocket_connect("/echo") as ws,
    ):
        STOPPING.set()
        await ws.send_text("still here")
        assert await ws.receive_text() == "still here"
        await ws.close()


# ---------------------------------------------------------------- the lifespan


async def test_readiness_turns_draining_on_the_stop_and_the_lifespan_resets_it() -> None:
    app = aaf(Router())
    async with AsyncTestClient(app):
        assert app.lifecycle.started
        assert not app.lifecycle.draining
        STOPPING.set()  # what the chained signal handler does
        assert app.lifecycle.draining == app.lifecycle.watches_stop
    # The lifespan shutdown set the stop, then cleared it for whatever runs next.
    assert app.lifecycle.draining
    assert not STOPPING.is_set()


async def test_the_lifespan_shutdown_ends_open_streams() -> None:
    log: list[str] = []
    app = aaf(streaming_app(log))
    client = AsyncTestClient(app)
    await client.__aenter__()
    try:
        async with client.stream("GET", "/feed") as response:
            chunks = response.aiter_bytes()
            assert b"data: hello" in await anext(chunks)
            rest = asyncio.ensure_future(_drain(chunks))
            await client.__aexit__()  # the lifespan shutdown: the stream ends
            assert await asyncio.wait_for(rest, 5) == b""
    finally:
        await client.aclose()
    assert log == ["producer closed"]


async def _drain(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


# ---------------------------------------------------------------- signals


@pytest.fixture
def sigterm_recorder() -> Iterator[list[int]]:
    seen: list[int] = []

    def server_handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    original = signal.signal(signal.SIGTERM, server_handler)
    try:
        yield seen
    finally:
        unwatch_signals()
        signal.signal(signal.SIGTERM, original)


async def test_the_server_handler_still_runs_after_ours(sigterm_recorder: list[int]) -> None:
    assert watch_signals()
    signal.raise_signal(signal.SIGTERM)
    await asyncio.sleep(0.01)
    assert STOPPING.is_set()
    assert sigterm_recorder == [signal.SIGTERM]


async def test_the_server_handler_waits_until_open_responses_ended(
    sigterm_recorder: list[int],
) -> None:
    release = STOPPING.hold()  # one open event stream
    watch_signals()
    signal.raise_signal(signal.SIGTERM)
    await asyncio.sleep(0.05)
    assert STOPPING.is_set()
    assert sigterm_recorder == []  # held back while the stream ends
    release()
    await asyncio.sleep(0.05)
    assert sigterm_recorder == [signal.SIGTERM]


async def test_the_wait_for_open_responses_is_bounded(
    sigterm_recorder: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_draining, "HOLD_SERVER_HANDLER", 0.05)
    release = STOPPING.hold()  # a response that never ends
    try:
        watch_signals()
        signal.raise_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert sigterm_recorder == [signal.SIGTERM]
    finally:
        release()


async def test_a_second_signal_reaches_the_server_at_once(sigterm_recorder: list[int]) -> None:
    release = STOPPING.hold()
    try:
        watch_signals()
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # the user insists (Ctrl-C twice)
        await asyncio.sleep(0)
        assert sigterm_recorder == [signal.SIGTERM]
    finally:
        release()
    await asyncio.sleep(0.05)
    assert sigterm_recorder == [signal.SIGTERM, signal.SIGTERM]


def test_default_and_ignored_signals_are_left_alone() -> None:
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        watch_signals()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        watch_signals()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, original)


def test_unwatch_puts_the_server_handler_back(sigterm_recorder: list[int]) -> None:
    before = signal.getsignal(signal.SIGTERM)
    watch_signals()
    assert signal.getsignal(signal.SIGTERM) is not before
    unwatch_signals()
    assert signal.getsignal(signal.SIGTERM) is before


def test_handlers_installed_after_ours_are_chained_again(sigterm_recorder: list[int]) -> None:
    watch_signals()
    later: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: later.append(signum))  # a late server
    watch_signals()  # what the next long-lived response does
    assert signal.getsignal(signal.SIGTERM) is _draining._on_signal
    os.kill(os.getpid(), signal.SIGTERM)
    assert later == [signal.SIGTERM]
    assert STOPPING.is_set()


# ---------------------------------------------------------------- timeout(idle=)


def idle_app() -> Router:
    router = Router()

    @router.websocket("/quiet")
    @timeout(idle=0.2)
    async def quiet(conn: Connection) -> None:
        await conn.accept()
        async for text in conn.iter_text():
            await conn.send_text(text)

    @router.get("/feed")
    @timeout(idle=0.1)
    async def feed(conn: Connection) -> EventSourceResponse:
        async def events() -> AsyncIterator[str]:
            yield "first"
            await asyncio.Event().wait()

        return EventSourceResponse(events(), ping_interval=None)

    return router


async def test_a_websocket_that_receives_nothing_is_closed_after_its_idle_bound() -> None:
    async with AsyncTestClient(aaf(idle_app())) as client, client.websocket_connect("/quiet") as ws:
        # Messages re-arm the bound: 3 x 0.1 s of talk outlasts the 0.2 s idle bound.
        for text in ("a", "b", "c"):
            await asyncio.sleep(0.1)
            await ws.send_text(text)
            assert await ws.receive_text() == text
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1000, "idle time limit reached")


async def test_an_event_stream_route_with_an_idle_bound_ends_cleanly() -> None:
    async with AsyncTestClient(aaf(idle_app())) as client:
        response = await client.get("/feed")
    assert response.status_code == 200
    assert response.text == "data: first\n\n"


def test_timeout_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="needs seconds"):
        timeout()
    with pytest.raises(ValueError, match="positive"):
        timeout(idle=0)
