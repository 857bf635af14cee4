"""``GET /feed``: task changes as server-sent events, resumable with ``Last-Event-ID``.

Each change is an event named after its kind (``created``, ``updated``, ``deleted``) whose data
is the task as JSON, with the log's id as event id::

    id: 7
    event: created
    data: {"id": "6f1c...", "title": "Buy milk", "done": false}

A new client (no ``Last-Event-ID``) first gets a frame holding only the current id (and the
reconnection delay), so even a client that saw no event yet resumes from the right place.
A client that reconnects gets what it missed from the log, then the live events. If what it
missed is no longer in the log, it gets a ``reset`` event instead: reload everything
(``GET /tasks``). ``: ping`` comments keep idle streams open through proxies.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack

import msgspec

from aaf import Connection, EventSourceResponse, Router, ServerSentEvent
from aaf.broadcast import Broadcast, Subscription

from ..tasks import TaskChange
from .log import EventLog, FeedEvent, MemoryEventLog

__all__ = ["RETRY_MS", "TaskFeed"]

# How long a browser waits before reconnecting (its default is about 3 s).
RETRY_MS = 2000
# Ids are decimal counters; anything else in Last-Event-ID is ignored like a missing header.
_MAX_ID_DIGITS = 18


def _parse_id(text: str | None) -> int | None:
    if text is None or not (0 < len(text) <= _MAX_ID_DIGITS and text.isascii()):
        return None
    return int(text) if text.isdigit() else None


def _reset(event_id: int) -> ServerSentEvent:
    return ServerSentEvent("{}", event="reset", id=str(event_id))


class TaskFeed:
    """The live feed of task changes: ``on_change`` for the tasks API, ``router()`` to serve.

    ``log`` numbers and keeps the events and publishes them on ``broadcast`` (a
    ``MemoryEventLog`` with a ``memory://`` broadcast, or a ``RedisEventLog`` with a Redis
    broadcast on the same server). ``ping_interval``: seconds of silence before a ping.
    """

    def __init__(self, log: EventLog, broadcast: Broadcast, *, ping_interval: float = 15.0) -> None:
        if not isinstance(log, MemoryEventLog) and broadcast.url.startswith("memory:"):
            raise ValueError(
                f"{type(log).__name__} publishes through Redis; give the feed a Broadcast on "
                "the same Redis (not memory://)"
            )
        self.log = log
        self.broadcast = broadcast
        self.ping_interval = ping_interval

    async def on_change(self, change: TaskChange) -> None:
        """The tasks API's ``on_change`` hook: record and publish one change."""
        await self.log.append(change.kind, msgspec.json.encode(change.task.to_json()).decode())

    async def events(
        self, subscription: Subscription, last_event_id: str | None
    ) -> AsyncGenerator[ServerSentEvent, None]:
        """The stream for a client that last saw ``last_event_id`` (None: a new client).

        ``subscription`` (to ``log.channel``) must be open before the log is read: an event
        is then either in what was read or delivered to the subscription (or both: the ids
        sort that out).
        """
        log = self.log
        after = _parse_id(last_event_id)
        if after is None:
            seen = await log.last_id()
            yield ServerSentEvent(id=str(seen), retry=RETRY_MS)
        else:
            replay, seen = await self._catch_up(after)
            for missed in replay:
                yield missed
        async for message in subscription:
            event = FeedEvent.decode(message)
            if event.id <= seen:
                continue  # already sent from the log
            if event.id > seen + 1:
                # The subscription dropped events (this client fell max_queue behind):
                # fill the hole from the log, this event included.
                replay, seen = await self._catch_up(seen)
                for missed in replay:
                    yield missed
                continue
            seen = event.id
            yield event.to_sse()

    async def _catch_up(self, after: int) -> tuple[list[ServerSentEvent], int]:
        """The events to send a client that saw up to ``after``, and the id it is then at."""
        missed = await self.log.since(after)
        if missed is None:
            newest = await self.log.last_id()
            return [_reset(newest)], newest
        return [event.to_sse() for event in missed], (missed[-1].id if missed else after)

    def router(self) -> Router:
        """``GET /feed`` (route name ``feed``)."""
        router = Router()

        @router.get("/feed", name="feed")
        async def feed(conn: Connection) -> EventSourceResponse:
            # Subscribed before the response starts: once a client sees the headers (the
            # browser's "open" event), no change can slip by. Closed when the request is over.
            stack = AsyncExitStack()
            subscription = await stack.enter_async_context(
                self.broadcast.subscribe(self.log.channel)
            )
            conn.on_finish(stack.aclose)
            return EventSourceResponse(
                self.events(subscription, conn.req_headers.get("last-event-id")),
                ping_interval=self.ping_interval,
            )

        return router
