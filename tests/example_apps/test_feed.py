"""examples/feed in the demo app: task changes as server-sent events, ids, resuming with
Last-Event-ID, resets, heartbeats; on the in-memory backend and on Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from examples.demo.app import build_app
from examples.feed import MemoryEventLog, RedisEventLog, TaskFeed
from examples.feed.feed import RETRY_MS
from examples.tasks import Settings, Task, TaskChange

from aaf import App, ServerSentEvent
from aaf.broadcast import Broadcast
from aaf.sse_resume import EventId, LoggedEvent, parse_event_id
from aaf.testing import AsyncTestClient

from ..support.sse_frames import Frame, FrameReader


def demo(events_url: str | None, ping_interval: float = 15.0) -> App:
    settings = Settings(database_url="sqlite:///:memory:", redis_url=events_url)
    return build_app(settings, ping_interval=ping_interval)


@pytest.fixture
async def client(events_url: str | None) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(demo(events_url)) as client:
        yield client


async def create(client: AsyncTestClient, title: str) -> dict[str, Any]:
    response = await client.post("/tasks", json={"title": title})
    assert response.status_code == 201
    task: dict[str, Any] = response.json()
    return task


def fields(kind: str, event_id: int, task: dict[str, Any]) -> tuple[str, int, dict[str, Any]]:
    return (kind, event_id, task)


def counter(event_id: str | None) -> int:
    """The counter of a well-formed ``<epoch>-<counter>`` id."""
    parsed = parse_event_id(event_id or "")
    assert parsed is not None, f"not an event id: {event_id!r}"
    return parsed.counter


async def current_id(client: AsyncTestClient) -> EventId:
    """The feed's newest id, as a new client is told."""
    async with client.stream("GET", "/feed") as response:
        hello = await FrameReader(response).next()
    parsed = parse_event_id(hello.id or "")
    assert parsed is not None
    return parsed


async def test_changes_stream_as_they_happen_named_by_kind_with_ids(
    client: AsyncTestClient,
) -> None:
    async with client.stream("GET", "/feed") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache"
        reader = FrameReader(response)
        hello = await reader.next()  # a new client: the current id and the retry delay
        assert hello.fields == {"id": hello.id, "retry": str(RETRY_MS)}
        assert counter(hello.id) == 0

        task = await create(client, "Write the feed")
        frame = await reader.next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("created", 1, task)

        done = (await client.patch(f"/tasks/{task['id']}", json={"done": True})).json()
        frame = await reader.next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("updated", 2, done)

        deleted = (await client.delete(f"/tasks/{task['id']}")).json()
        frame = await reader.next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("deleted", 3, deleted)


async def test_requests_that_change_nothing_send_nothing(client: AsyncTestClient) -> None:
    async with client.stream("GET", "/feed") as response:
        reader = FrameReader(response)
        await reader.next()
        assert (await client.post("/tasks", json={"title": ""})).status_code == 422
        missing = "00000000-0000-4000-8000-000000000000"
        assert (await client.delete(f"/tasks/{missing}")).status_code == 404
        task = await create(client, "the only change")
        frame = await reader.next()  # the next frame is the one real change
        assert (frame.event, counter(frame.id), frame.json()) == fields("created", 1, task)


async def test_a_client_coming_back_gets_what_it_missed_then_live_events(
    client: AsyncTestClient,
) -> None:
    tasks = [await create(client, f"task {n}") for n in range(1, 4)]
    seen = EventId((await current_id(client)).epoch, 1)
    async with client.stream("GET", "/feed", headers={"last-event-id": str(seen)}) as response:
        reader = FrameReader(response)
        for event_id, task in ((2, tasks[1]), (3, tasks[2])):
            frame = await reader.next()
            assert (frame.event, counter(frame.id), frame.json()) == fields(
                "created", event_id, task
            )
        live = await create(client, "task 4")
        frame = await reader.next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("created", 4, live)


async def test_a_client_that_missed_nothing_just_waits(client: AsyncTestClient) -> None:
    await create(client, "seen already")
    seen = str(await current_id(client))
    async with client.stream("GET", "/feed", headers={"last-event-id": seen}) as response:
        reader = FrameReader(response)
        task = await create(client, "new")
        frame = await reader.next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("created", 2, task)


async def test_an_empty_last_event_id_counts_as_a_new_client(client: AsyncTestClient) -> None:
    await create(client, "before")
    async with client.stream("GET", "/feed", headers={b"last-event-id": b""}) as response:
        hello = await FrameReader(response).next()
        assert hello.fields == {"id": hello.id, "retry": str(RETRY_MS)}
        assert counter(hello.id) == 1


@pytest.mark.parametrize(
    "last_event_id",
    # b"\xb2" is "²" in latin-1: str.isdigit() says yes, int() says no.
    [b"abc", b"-1", b"1", b"57", b"1.5", b" 1", b"\xb2", b"\xef\xbc\x99", b"1" * 19],
)
async def test_an_unusable_last_event_id_gets_a_reset(
    client: AsyncTestClient, last_event_id: bytes
) -> None:
    # Malformed ids (the plain counters of older versions among them): what the client
    # missed is unknown, so it reloads everything rather than miss something silently.
    await create(client, "before")
    headers = {b"last-event-id": last_event_id}
    async with client.stream("GET", "/feed", headers=headers) as response:
        frame = await FrameReader(response).next()
        assert (frame.event, counter(frame.id), frame.json()) == ("reset", 1, {})


@pytest.mark.parametrize("history", ["another epoch", "a future id of this epoch"])
async def test_an_id_from_another_history_gets_a_reset(
    client: AsyncTestClient, history: str
) -> None:
    # The log restarted (a new process with the memory log, a flushed Redis): a new epoch.
    await create(client, "after the restart")
    epoch = (await current_id(client)).epoch
    stale = "0123456789abcdef-1" if history == "another epoch" else f"{epoch}-57"
    async with client.stream("GET", "/feed", headers={"last-event-id": stale}) as response:
        reader = FrameReader(response)
        frame = await reader.next()
        assert (frame.event, frame.id, frame.json()) == ("reset", f"{epoch}-1", {})
        task = await create(client, "live again")
        frame = await reader.next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("created", 2, task)


async def test_heartbeats_keep_an_idle_stream_open(events_url: str | None) -> None:
    async with (
        AsyncTestClient(demo(events_url, ping_interval=0.05)) as client,
        client.stream("GET", "/feed") as response,
    ):
        reader = FrameReader(response)
        await reader.next()
        for _ in range(2):
            assert await reader.next() == Frame(comments=["ping"])


# ------------------------------------------------------------------------------ the log
def change(kind: str, title: str) -> TaskChange:
    return TaskChange(kind, Task(uuid.uuid4(), title, False))  # type: ignore[arg-type]


@pytest.fixture
async def log_and_broadcast(
    events_url: str | None,
) -> AsyncIterator[tuple[MemoryEventLog | RedisEventLog, Broadcast]]:
    broadcast = Broadcast(events_url or "memory://", max_queue=2)
    log: MemoryEventLog | RedisEventLog
    if events_url is None:
        log = MemoryEventLog(broadcast, max_events=3)
    else:
        log = RedisEventLog(events_url, max_events=3)
    async with broadcast, log:
        yield log, broadcast


async def test_the_log_keeps_the_last_events_and_tells_when_some_are_gone(
    log_and_broadcast: tuple[MemoryEventLog | RedisEventLog, Broadcast],
) -> None:
    log, _ = log_and_broadcast
    epoch = (await log.last_id()).epoch
    at = {n: EventId(epoch, n) for n in range(7)}
    assert await log.last_id() == at[0]
    assert await log.since(at[0]) == []
    for n in range(1, 6):
        data = f'{{"n": {n}}}'
        assert await log.append("created", data) == LoggedEvent(at[n], "created", data)
    assert await log.last_id() == at[5]
    assert [event.id.counter for event in await log.since(at[2]) or []] == [3, 4, 5]
    assert await log.since(at[5]) == []
    assert await log.since(at[1]) is None  # event 2 fell out of the 3-event log
    assert await log.since(at[6]) is None  # not an id of this log


async def test_a_subscriber_that_fell_behind_is_refilled_from_the_log(
    log_and_broadcast: tuple[MemoryEventLog | RedisEventLog, Broadcast],
) -> None:
    log, broadcast = log_and_broadcast
    feed = TaskFeed(log, broadcast)
    async with broadcast.subscribe(log.channel) as subscription:
        events = feed.events(subscription, None)
        hello = await anext(events)
        assert hello == ServerSentEvent(id=str(await log.last_id()), retry=RETRY_MS)
        titles = [f"t{n}" for n in range(1, 4)]
        for title in titles:
            await feed.on_change(change("created", title))
        # The subscription holds two messages: event 1 was dropped. The log fills the hole.
        sent = [await anext(events) for _ in titles]
        assert [(e.event, counter(e.id)) for e in sent] == [("created", n) for n in (1, 2, 3)]
        assert [title_of(e) for e in sent] == titles
        await feed.on_change(change("updated", "t4"))
        following = await anext(events)  # 2 and 3 were skipped as already sent
        assert (following.event, counter(following.id)) == ("updated", 4)
        await events.aclose()


async def test_a_subscriber_that_fell_too_far_behind_gets_a_reset(
    log_and_broadcast: tuple[MemoryEventLog | RedisEventLog, Broadcast],
) -> None:
    log, broadcast = log_and_broadcast
    feed = TaskFeed(log, broadcast)
    async with broadcast.subscribe(log.channel) as subscription:
        events = feed.events(subscription, None)
        await anext(events)
        for n in range(1, 6):  # the log keeps 3, the subscription 2
            await feed.on_change(change("created", f"t{n}"))
        reset = await anext(events)
        assert (reset.event, counter(reset.id), reset.text) == ("reset", 5, "{}")
        await feed.on_change(change("deleted", "t6"))
        following = await anext(events)
        assert (following.event, counter(following.id)) == ("deleted", 6)
        await events.aclose()


def title_of(event: ServerSentEvent) -> str:
    title: str = json.loads(event.text or "")["title"]
    return title


def test_feed_events_survive_the_wire_format() -> None:
    event = LoggedEvent(EventId("0123456789abcdef", 12), "updated", '{"title": "a b  c"}')
    assert LoggedEvent.decode(event.encode()) == event
    assert event.to_sse() == ServerSentEvent(
        '{"title": "a b  c"}', event="updated", id="0123456789abcdef-12"
    )


async def test_logs_and_broadcasts_must_match(redis_url: str) -> None:
    with pytest.raises(ValueError, match="RedisEventLog on the same Redis"):
        MemoryEventLog(Broadcast(redis_url))
    with pytest.raises(ValueError, match="not memory://"):
        TaskFeed(RedisEventLog(redis_url), Broadcast("memory://"))
    with pytest.raises(ValueError, match="max_events must be at least 1"):
        MemoryEventLog(Broadcast(), max_events=0)
    log = RedisEventLog("redis://user:secret@127.0.0.1:1/0")
    assert "secret" not in repr(log)
    with pytest.raises(RuntimeError, match="RedisEventLog is not open"):
        await log.last_id()


async def test_on_redis_every_process_shares_ids_and_events(redis_url: str) -> None:
    # Two apps on one Redis stand for two server processes.
    async with (
        AsyncTestClient(demo(redis_url)) as one,
        AsyncTestClient(demo(redis_url)) as two,
        two.stream("GET", "/feed") as response,
    ):
        reader = FrameReader(response)
        await reader.next()
        first = await create(one, "through one")
        second = await create(two, "through two")
        ids = []
        for event_id, task in ((1, first), (2, second)):
            frame = await reader.next()
            assert (frame.event, counter(frame.id), frame.json()) == fields(
                "created", event_id, task
            )
            ids.append(frame.id or "")
        assert ids[0].split("-")[0] == ids[1].split("-")[0]  # one epoch for every process
    # A browser that saw event 1 through process two resumes through process one.
    async with (
        AsyncTestClient(demo(redis_url)) as one,
        one.stream("GET", "/feed", headers={"last-event-id": ids[0]}) as response,
    ):
        frame = await FrameReader(response).next()
        assert (frame.event, counter(frame.id), frame.json()) == fields("created", 2, second)
