"""Server-sent events: framing, the response, pings, cleanup on disconnect, reading in tests."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from aaf import Connection, EventSourceResponse, Router, ServerSentEvent, aaf
from aaf.sse import SSEParser, encode_event
from aaf.testing import AsyncTestClient, TestClient, aiter_sse, iter_sse
from tests.support.servers import serve


# ---------------------------------------------------------------------------- framing
@pytest.mark.parametrize(
    ("item", "wire"),
    [
        ("hello", b"data: hello\n\n"),
        ("", b"data: \n\n"),
        ("a\nb", b"data: a\ndata: b\n\n"),
        ("a\r\nb\rc", b"data: a\ndata: b\ndata: c\n\n"),
        ("ends\n", b"data: ends\ndata: \n\n"),
        ({"a": 1, "b": [True, None]}, b'data: {"a":1,"b":[true,null]}\n\n'),
        ([1, 2], b"data: [1,2]\n\n"),
        (ServerSentEvent(b"raw bytes"), b"data: raw bytes\n\n"),
        (
            ServerSentEvent("x", event="update", id="7", retry=2500),
            b"id: 7\nevent: update\nretry: 2500\ndata: x\n\n",
        ),
        (ServerSentEvent(comment="one\ntwo"), b": one\n: two\n\n"),
        (ServerSentEvent({"k": "v"}, event="json"), b'event: json\ndata: {"k":"v"}\n\n'),
    ],
)
def test_event_framing(item: Any, wire: bytes) -> None:
    assert encode_event(item) == wire


def test_framing_keeps_other_unicode_line_separators_inside_data() -> None:
    # str.splitlines() would split on U+2028 and form feeds; the SSE format does not.
    assert encode_event("a\u2028b\x0cc") == "data: a\u2028b\x0cc\n\n".encode()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event": "a\nb"}, "event cannot contain a line break"),
        ({"event": "a\rb"}, "event cannot contain a line break"),
        ({"id": "1\n2"}, "id cannot contain a line break"),
        ({"id": "1\x002"}, "cannot contain NUL"),
        ({"retry": -1}, "retry is a non-negative int"),
        ({"retry": 1.5}, "retry is a non-negative int"),
    ],
)
def test_fields_that_would_break_the_framing_are_refused(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSentEvent("data", **kwargs)


def test_event_repr_and_equality() -> None:
    event = ServerSentEvent({"a": 1}, event="e", id="3")
    assert repr(event) == "ServerSentEvent('{\"a\":1}', event='e', id='3')"
    assert repr(ServerSentEvent("x")) == "ServerSentEvent('x')"
    assert event == ServerSentEvent('{"a":1}', event="e", id="3")
    assert event != ServerSentEvent('{"a":1}', event="other", id="3")
    assert event != "not an event"


def test_parser_reads_what_the_encoder_writes() -> None:
    events = [
        ServerSentEvent("multi\nline", event="e1", id="1", retry=10),
        ServerSentEvent(" leading space"),
        ServerSentEvent({"json": True}, id="2"),
    ]
    parser = SSEParser()
    parsed = []
    for line in b"".join(map(encode_event, events)).decode().split("\n"):
        event = parser.feed(line)
        if event is not None:
            parsed.append(event)
    assert parsed == [
        ServerSentEvent("multi\nline", event="e1", id="1", retry=10),
        ServerSentEvent(" leading space", id="1"),  # the last id carries over (per the spec)
        ServerSentEvent('{"json":true}', id="2"),
    ]
    assert parser.last_event_id == "2"


def test_parser_edge_cases() -> None:
    parser = SSEParser()
    lines = [": comment", "data:no-space", "retry: soon", "id: a\x00b", "unknown: x", "data", ""]
    assert [parser.feed(line) for line in lines][:-1] == [None] * 6
    parser = SSEParser()
    for line in lines[:-1]:
        parser.feed(line)
    event = parser.feed("")
    assert event == ServerSentEvent("no-space\n")  # bare "data" adds an empty line
    assert event is not None
    assert event.retry is None
    assert parser.last_event_id is None
    assert parser.feed("event: no data") is None
    assert parser.feed("") is None  # events without data are dropped


def test_ping_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ping_interval must be > 0"):
        EventSourceResponse([], ping_interval=0)


# ---------------------------------------------------------------------------- the response
def feed_app(**options: Any) -> tuple[Any, dict[str, Any]]:
    router = Router()
    probe: dict[str, Any] = {"closed": asyncio.Event(), "release": asyncio.Event()}

    @router.get("/feed")
    async def feed(conn: Connection) -> EventSourceResponse:
        probe["last_event_id"] = conn.req_headers.get("last-event-id")
        start = int(probe["last_event_id"] or 0)

        async def events() -> AsyncIterator[Any]:
            try:
                yield "first"
                yield {"n": start}
                yield ServerSentEvent("third", event="custom", id=str(start + 3))
                await probe["release"].wait()
                yield "after the pause"
                await asyncio.Event().wait()  # then idle until the client leaves
            finally:
                probe["closed"].set()

        return EventSourceResponse(events(), **options)

    @router.get("/sync")
    async def sync_feed(conn: Connection) -> EventSourceResponse:
        def numbers() -> Iterator[int]:
            yield from range(3)

        return EventSourceResponse(numbers(), ping_interval=None)

    @router.get("/list")
    async def list_feed(conn: Connection) -> EventSourceResponse:
        headers = {"cache-control": "no-store", "x-accel-buffering": "yes"}
        return EventSourceResponse(["a", "b"], headers=headers)

    @router.get("/broken")
    async def broken(conn: Connection) -> EventSourceResponse:
        async def events() -> AsyncIterator[str]:
            yield "ok"
            raise RuntimeError("feed failed")

        return EventSourceResponse(events())

    return aaf(router), probe


async def test_events_arrive_in_order_with_sse_headers() -> None:
    app, probe = feed_app()
    async with AsyncTestClient(app) as client, client.stream("GET", "/feed") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        received = []
        async for event in aiter_sse(response):
            received.append(event)
            if len(received) == 3:
                probe["release"].set()
            if len(received) == 4:
                break
    assert received == [
        ServerSentEvent("first"),
        ServerSentEvent('{"n":0}'),
        ServerSentEvent("third", event="custom", id="3"),
        ServerSentEvent("after the pause", id="3"),
    ]


async def test_pings_while_idle_then_events_resume() -> None:
    app, probe = feed_app(ping_interval=0.02)
    lines: list[str] = []
    async with AsyncTestClient(app) as client, client.stream("GET", "/feed") as response:
        try:
            # A ping every 0.02 s: 10 s means pings (or the resumed events) never came, and
            # the test fails now rather than at the suite's timeout.
            async with asyncio.timeout(10):
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line == ": ping" and not probe["release"].is_set():
                        probe["release"].set()  # the producer was idle long enough to be pinged
                    if line == "data: after the pause":
                        break
        except TimeoutError:
            pytest.fail(f"no ping, or no event after the ping, within 10 s; got {lines!r}")
    assert lines[:7] == [
        "data: first",
        "",
        'data: {"n":0}',
        "",
        "id: 3",
        "event: custom",
        "data: third",
    ]
    pings = lines.index(": ping")
    assert pings > lines.index("data: third")
    assert lines[pings + 1] == ""
    assert lines[-1] == "data: after the pause"


async def test_generator_finally_runs_within_a_second_of_the_disconnect() -> None:
    app, probe = feed_app()  # the default 15 s ping: the producer is parked in a task
    async with AsyncTestClient(app) as client, client.stream("GET", "/feed") as response:
        async for event in aiter_sse(response):
            if event.text == "third":
                break
        # The client hangs up (the test client would cancel the app only after 5 s).
        await asyncio.wait_for(asyncio.gather(response.aclose(), probe["closed"].wait()), 1)


async def test_generator_finally_runs_on_disconnect_without_pings() -> None:
    app, probe = feed_app(ping_interval=None)
    async with AsyncTestClient(app) as client, client.stream("GET", "/feed") as response:
        async for line in response.aiter_lines():
            if line == "data: third":
                break
        await asyncio.wait_for(asyncio.gather(response.aclose(), probe["closed"].wait()), 1)


def test_sync_client_reads_incrementally_and_disconnects() -> None:
    router = Router()
    closed = threading.Event()
    produced: list[int] = []

    @router.get("/ticks")
    async def ticks(conn: Connection) -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            try:
                n = 0
                while True:
                    produced.append(n)
                    yield ServerSentEvent(str(n), id=str(n))
                    n += 1
                    await asyncio.sleep(0.001)
            finally:
                closed.set()

        return EventSourceResponse(events())

    with TestClient(aaf(router)) as client, client.stream("GET", "/ticks") as response:
        seen = []
        for event in iter_sse(response):
            seen.append(event.text)
            if len(seen) == 3:
                break
    assert seen == ["0", "1", "2"]
    assert closed.wait(1)
    assert len(produced) < 1000  # it stopped, it did not run on


async def test_last_event_id_is_reachable_for_resumption() -> None:
    app, probe = feed_app()
    async with AsyncTestClient(app) as client:
        headers = {"last-event-id": "41"}
        async with client.stream("GET", "/feed", headers=headers) as response:
            async for event in aiter_sse(response):
                if event.event == "custom":
                    assert event.id == "44"
                    break
    assert probe["last_event_id"] == "41"


def test_sync_and_list_sources_and_header_overrides() -> None:
    app, _ = feed_app()
    with TestClient(app) as client:
        response = client.get("/sync")
        assert response.text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
        response = client.get("/list")
        assert response.text == "data: a\n\ndata: b\n\n"
        assert response.headers.get_list("cache-control") == ["no-store"]
        assert response.headers.get_list("x-accel-buffering") == ["yes"]
        head = client.head("/list")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == "text/event-stream"


async def test_reading_a_finite_stream_to_its_end() -> None:
    app, _ = feed_app()
    expected = [ServerSentEvent("a"), ServerSentEvent("b")]
    async with AsyncTestClient(app) as client, client.stream("GET", "/list") as response:
        assert [event async for event in aiter_sse(response)] == expected
    with TestClient(app) as sync_client, sync_client.stream("GET", "/list") as sync_response:
        assert list(iter_sse(sync_response)) == expected


def test_custom_content_type_is_kept() -> None:
    response = EventSourceResponse([], headers={"content-type": "text/event-stream; charset=utf-8"})
    assert response.media_type == "text/event-stream; charset=utf-8"
    assert (b"content-type", b"text/event-stream; charset=utf-8") in response.raw_headers


async def test_an_error_in_the_feed_truncates_the_stream_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, _ = feed_app()
    async with AsyncTestClient(app) as client:
        with caplog.at_level(logging.ERROR, logger="aaf.error"):
            async with client.stream("GET", "/broken") as response:
                with pytest.raises(httpx.RemoteProtocolError):
                    await response.aread()
    [record] = caplog.records
    assert "'/broken' (broken)" in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "feed failed"


# ---------------------------------------------------------------------------- over a real socket
@pytest.mark.integration
async def test_event_stream_over_a_real_socket_stops_when_the_client_leaves() -> None:
    with serve("tests.support.realtime_app:app") as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            lines: list[str] = []
            headers = {"last-event-id": "9"}
            async with client.stream("GET", "/events", headers=headers) as response:
                assert response.headers["content-type"] == "text/event-stream"
                async for line in response.aiter_lines():
                    lines.append(line)
                    if lines.count(": ping") == 2:
                        break
            closed = await client.get("/events/closed")
    events = [line for line in lines if line.startswith(("id:", "data:"))]
    assert events == [
        "id: 10",
        'data: {"n":10}',
        "id: 11",
        'data: {"n":11}',
        "id: 12",
        'data: {"n":12}',
    ]
    assert closed.json() == {"closed": True}
