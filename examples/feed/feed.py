"""``GET /feed``: task changes as server-sent events, resumable with ``Last-Event-ID``.

Each change is an event named after its kind (``created``, ``updated``, ``deleted``) whose data
is the task as JSON, with the log's id (``"<epoch>-<counter>"``, see ``aaf.sse_resume``)::

    id: 675e3a1b9f04c2d1-7
    event: created
    data: {"id": "6f1c...", "title": "Buy milk", "done": false}

A new client (no ``Last-Event-ID``) first gets a frame holding only the current id (and the
reconnection delay), so even a client that saw no event yet resumes from the right place.
A client that reconnects gets what it missed from the log, then the live events. If what it
missed is no longer in the log (or the id is from before a restart), it gets a ``reset`` event
instead: reload everything (``GET /tasks``). ``: ping`` comments keep idle streams open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack

import msgspec

from aaf import Connection, EventSourceResponse, Router, ServerSentEvent
from aaf.broadcast import Broadcast, BroadcastError, Subscription
from aaf.sse_resume import EventLog, MemoryEventLog, resumable_events

from ..tasks import TaskChange

__all__ = ["FEED_CHANNEL", "RETRY_MS", "TaskFeed"]

logger = logging.getLogger(__name__)

# The channel (and Redis key prefix) the demo's log uses.
FEED_CHANNEL = "feed:tasks"
# How long a browser waits before reconnecting (its default is about 3 s).
RETRY_MS = 2000
# How long a write's answer may wait for its event (the tasks Settings' PUBLISH_TIMEOUT).
DEFAULT_PUBLISH_TIMEOUT = 0.5


class TaskFeed:
    """The live feed of task changes: ``on_change`` for the tasks API, ``router()`` to serve.

    ``log`` numbers and keeps the events and publishes them on ``broadcast`` (a
    ``MemoryEventLog`` with a ``memory://`` broadcast, or a ``RedisEventLog`` with a Redis
    broadcast on the same server). ``ping_interval``: seconds of silence before a ping;
    ``publish_timeout``: seconds :meth:`on_change` may take (at most the broadcast's own).
    """

    def __init__(
        self,
        log: EventLog,
        broadcast: Broadcast,
        *,
        ping_interval: float = 15.0,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
    ) -> None:
        if not isinstance(log, MemoryEventLog) and broadcast.url.startswith("memory:"):
            raise ValueError(
                f"{type(log).__name__} publishes through Redis; give the feed a Broadcast on "
                "the same Redis (not memory://)"
            )
        self.log = log
        self.broadcast = broadcast
        self.ping_interval = ping_interval
        if not publish_timeout > 0:
            raise ValueError(f"publish_timeout is seconds above 0, not {publish_timeout!r}")
        self.publish_timeout = min(publish_timeout, broadcast.publish_timeout)
        # What a backend outage raises (a bug elsewhere still reaches the tasks API's hook
        # error log with its traceback). Redis is imported only for a log that uses it.
        self._backend_errors: tuple[type[Exception], ...] = (OSError, BroadcastError)
        if not isinstance(log, MemoryEventLog):
            from redis.exceptions import RedisError  # the 'redis' extra

            self._backend_errors += (RedisError,)

    async def on_change(self, change: TaskChange) -> None:
        """The tasks API's ``on_change`` hook: record and publish one change.

        Bounded by ``publish_timeout``: a frozen Redis must not hold the write's answer (the
        change is stored already). When Redis is frozen or down the event is lost, and logged
        as such in one warning line; feed clients see the change on their next reload."""
        data = msgspec.json.encode(change.task.to_json()).decode()
        try:
            async with asyncio.timeout(self.publish_timeout):
                await self.log.append(change.kind, data)
        except TimeoutError:
            reason = f"not recorded within {self.publish_timeout}s (publish_timeout)"
        except self._backend_errors as exc:
            reason = f"the event log failed: {exc!r}"
        else:
            return
        logger.warning("feed event lost: %s of task %s, %s", change.kind, change.task.id, reason)

    def events(
        self, subscription: Subscription, last_event_id: str | None
    ) -> AsyncGenerator[ServerSentEvent, None]:
        """The stream for a client that last saw ``last_event_id`` (None: a new client);
        ``subscription`` (to ``log.channel``) must be open before the stream starts."""
        return resumable_events(self.log, subscription, last_event_id, retry=RETRY_MS)

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
