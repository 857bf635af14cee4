"""aaf.sse_resume: numbered event logs (memory and Redis) and the resuming SSE response."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import pytest
import redis.asyncio as redis

from aaf import App, Connection, EventSourceResponse, Router
from aaf.broadcast import Broadcast
from aaf.sse_resume import (
    EventId,
    EventLog,
    LoggedEvent,
    MemoryEventLog,
    RedisEventLog,
    new_epoch,
    parse_event_id,
    resumable_events,
    resumable_response,
)
from aaf.testing import AsyncTestClient, TestClient, aiter_sse, iter_sse
from tests.support.redis import redis_server


def ids(events: list[LoggedEvent] | None) -> list[int]:
    assert events is not None, "expected the events, got None (a reset)"
    return [event.id.counter for event in events]


# ------------------------------------------------------------------------------ event ids
def test_ids_are_epoch_dash_counter_and_round_trip() -> None:
    epoch = new_epoch()
    assert len(epoch) == 16
    assert int(epoch, 16) >= 0
    assert new_epoch() != epoch  # random part: two logs opened at once still differ
    event_id = EventId(epoch, 42)
    assert str(event_id) == f"{epoch}-42"
    assert parse_event_id(str(event_id)) == event_id
    assert event_id.next() == EventId(epoch, 43)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "42",
        "0123456789abcdef",
        "0123456789abcdef-",
        "0123456789ABCDEF-1",
        "0123456789abcdef-01",
        "0123456789abcdef--1",
        "0123456789abcdef-1 ",
        "0123456789abcdef-" + "9" * 19,
        "0123456789abcde-1",
        "0123456789abcdef-\uff11",
    ],
)
def test_malformed_ids_are_rejected(text: str) -> None:
    assert parse_event_id(text) is None


def test_logged_events_survive_the_wire_format() -> None:
    event = LoggedEvent(EventId("0123456789abcdef", 3), "note", "a b  c")
    assert LoggedEvent.decode(event.encode()) == event
    with pytest.raises(ValueError, match="bad id"):
        LoggedEvent.decode("7 note data")


# ------------------------------------------------------------------------------ the logs
@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Broadcast, str | None]]:
    """A connected broadcast and, on Redis, the (emptied) server's URL."""
    url: str | None = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        client = redis.Redis.from_url(url)
        await client.flushall()
        await client.aclose()
    async with Broadcast(url or "memory://", max_queue=2) as broadcast:
        yield broadcast, url


def make_log(backend: tuple[Broadcast, str | None], max_events: int = 3) -> EventLog:
    broadcast, url = backend
    if url is None:
        return MemoryEventLog(broadcast, max_events=max_events)
    return RedisEventLog(url, max_events=max_events)


async def test_replay_after_a_given_id(backend: tuple[Broadcast, str | None]) -> None:
    async with make_log(backend, max_events=10) as log:
        start = await log.last_id()
        assert start.counter == 0
        assert await log.since(start) == []
        appended = [await log.append("note", f"n{n}") for n in range(1, 5)]
        assert [(e.event, e.data) for e in appended] == [("note", f"n{n}") for n in range(1, 5)]
        assert ids(await log.since(appended[1].id)) == [3, 4]
        assert [e.data for e in await log.since(appended[1].id) or []] == ["n3", "n4"]
        assert ids(await log.since(start)) == [1, 2, 3, 4]
        assert await log.since(appended[-1].id) == []
        assert await log.last_id() == appended[-1].id


async def test_ids_strictly_increase_within_an_epoch(
    backend: tuple[Broadcast, str | None],
) -> None:
    async with make_log(backend) as log:
        appended = [await log.append("note", "x") for _ in range(20)]
        assert len({event.id.epoch for event in appended}) == 1
        counters = [event.id.counter for event in appended]
        assert counters == list(range(1, 21))


async def test_unknown_ids_mean_a_reset(backend: tuple[Broadcast, str | None]) -> None:
    async with make_log(backend) as log:
        newest = (await log.append("note", "x")).id
        assert await log.since(EventId(newest.epoch, 5)) is None  # never given out
        assert await log.since(EventId("0123456789abcdef", 0)) is None  # another epoch


async def test_old_events_are_dropped_and_then_mean_a_reset(
    backend: tuple[Broadcast, str | None],
) -> None:
    async with make_log(backend, max_events=3) as log:
        appended = [await log.append("note", f"n{n}") for n in range(1, 6)]
        assert ids(await log.since(appended[1].id)) == [3, 4, 5]  # exactly what is kept
        assert await log.since(appended[0].id) is None  # event 2 fell out
        assert await log.since(EventId(appended[0].id.epoch, 0)) is None


async def test_a_restarted_log_starts_a_new_epoch(backend: tuple[Broadcast, str | None]) -> None:
    async with make_log(backend) as before:
        seen = (await before.append("note", "x")).id
    if backend[1] is not None:
        # Redis keeps the history across processes; a restart that matters there is data
        # loss (a flushed or replaced server).
        async with make_log(backend) as again:
            assert ids(await again.since(EventId(seen.epoch, 0))) == [1]
        client = redis.Redis.from_url(backend[1])
        await client.flushall()
        await client.aclose()
    async with make_log(backend) as after:
        fresh = (await after.append("note", "y")).id
        assert fresh.counter == 1
        assert fresh.epoch != seen.epoch
        assert await after.since(seen) is None
        assert await after.since(EventId(seen.epoch, 0)) is None


@pytest.mark.integration
async def test_redis_drops_the_remains_of_a_half_lost_history(redis_url: str) -> None:
    async with RedisEventLog(redis_url, channel="half") as log:
        first = (await log.append("note", "x")).id
        client = redis.Redis.from_url(redis_url)
        await client.delete("half:epoch")  # evicted, say, while the counter survived
        await client.aclose()
        again = (await log.append("note", "y")).id
        assert again.epoch != first.epoch
        assert again.counter == 1
        assert await log.since(first) is None


def test_bad_settings_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="RedisEventLog on the same Redis"):
        MemoryEventLog(Broadcast("redis://127.0.0.1:1/0"))
    with pytest.raises(ValueError, match="max_events must be at least 1"):
        MemoryEventLog(Broadcast(), max_events=0)
    log = RedisEventLog("redis://user:secret@127.0.0.1:1/0")
    assert "secret" not in repr(log)
    with pytest.raises(RuntimeError, match="not open"):
        _ = log.client


# ------------------------------------------------------------------------------ the stream
async def test_a_lagging_subscriber_is_refilled_then_reset(
    backend: tuple[Broadcast, str | None],
) -> None:
    broadcast, _ = backend
    async with make_log(backend) as log, broadcast.subscribe(log.channel) as subscription:
        events = resumable_events(log, subscription, None)
        hello = await anext(events)
        assert (hello.id, hello.event, hello.data) == (str(await log.last_id()), None, None)
        for n in range(1, 4):  # the subscription keeps 2: event 1 is dropped, refilled
            await log.append("note", f"n{n}")
        got = [await asyncio.wait_for(anext(events), 2) for _ in range(3)]
        assert [(e.event, e.text) for e in got] == [("note", f"n{n}") for n in (1, 2, 3)]
        for n in range(4, 9):  # more than the log's 3: a reset
            await log.append("note", f"n{n}")
        reset = await asyncio.wait_for(anext(events), 2)
        assert (reset.event, reset.text, reset.id) == ("reset", "{}", str(await log.last_id()))
        await log.append("note", "n9")
        following = await asyncio.wait_for(anext(events), 2)
        assert (following.text, parse_event_id(following.id or "")) == (
            "n9",
            await log.last_id(),
        )
        await events.aclose()


def feed_app(log: EventLog, broadcast: Broadcast) -> App:
    router = Router()

    @router.get("/events")
    async def events(conn: Connection) -> EventSourceResponse:
        stack = AsyncExitStack()
        subscription = await stack.enter_async_context(broadcast.subscribe(log.channel))
        conn.on_finish(stack.aclose)
        return resumable_response(
            log, subscription, conn.req_headers.get("last-event-id"), retry=1500
        )

    @router.post("/notes")
    async def add(conn: Connection) -> dict[str, str]:
        return {"id": str((await log.append("note", (await conn.body()).decode())).id)}

    return App([router], on_startup=[broadcast.connect], on_shutdown=[broadcast.disconnect])


def test_the_response_replays_then_streams_live_events() -> None:
    broadcast = Broadcast("memory://")
    log = MemoryEventLog(broadcast, max_events=5)
    with TestClient(feed_app(log, broadcast)) as client:
        posted = [client.post("/notes", content=f"n{n}").json()["id"] for n in range(1, 4)]
        with client.stream("GET", "/events", headers={"last-event-id": posted[0]}) as response:
            assert response.headers["content-type"] == "text/event-stream"
            events = iter_sse(response)
            replayed = [next(events) for _ in range(2)]
            assert [(e.event, e.text, e.id) for e in replayed] == [
                ("note", "n2", posted[1]),
                ("note", "n3", posted[2]),
            ]
        with client.stream("GET", "/events") as response:
            # A frame without data (browsers dispatch no event, but keep its id): raw lines.
            lines = response.iter_lines()
            assert [next(lines) for _ in range(3)] == [f"id: {posted[-1]}", "retry: 1500", ""]


async def test_the_response_streams_live_events_after_the_replay() -> None:
    broadcast = Broadcast("memory://")
    log = MemoryEventLog(broadcast, max_events=5)
    async with AsyncTestClient(feed_app(log, broadcast)) as client:
        first = (await client.post("/notes", content="n1")).json()["id"]
        second = (await client.post("/notes", content="n2")).json()["id"]
        headers = {"last-event-id": first}
        async with client.stream("GET", "/events", headers=headers) as response:
            events = aiter_sse(response)
            replayed = await anext(events)
            assert (replayed.text, replayed.id) == ("n2", second)
            live_id = (await client.post("/notes", content="live")).json()["id"]
            live = await asyncio.wait_for(anext(events), 2)
            assert (live.event, live.text, live.id) == ("note", "live", live_id)


@pytest.mark.parametrize("stale", ["bogus", "0123456789abcdef-1", "{epoch}-99", "{epoch}-1"])
def test_the_response_resets_a_client_it_cannot_catch_up(stale: str) -> None:
    broadcast = Broadcast("memory://")
    log = MemoryEventLog(broadcast, max_events=2)  # "{epoch}-1": events 2..4 are not all kept
    with TestClient(feed_app(log, broadcast)) as client:
        posted = [client.post("/notes", content=f"n{n}").json()["id"] for n in range(1, 5)]
        epoch = posted[0].split("-")[0]
        headers = {"last-event-id": stale.format(epoch=epoch)}
        with client.stream("GET", "/events", headers=headers) as response:
            events = iter_sse(response)
            reset = next(events)
            assert (reset.event, reset.text, reset.id) == ("reset", "{}", posted[-1])
