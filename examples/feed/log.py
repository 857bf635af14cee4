"""The recent-events log behind the live feed: numbered events, kept for reconnecting clients.

Every change gets the next id (1, 2, 3...) and is both stored in the log and published on the
feed's broadcast channel, in one step, so the channel carries events in id order. The log keeps
the last ``max_events``; a client that comes back with ``Last-Event-ID: n`` gets the events
after ``n`` from it, or learns that some of them are gone (``since()`` returns None).

``MemoryEventLog``: a deque and a counter in this process, published through a ``memory://``
broadcast (one process only).

``RedisEventLog``: the counter is a Redis key (``INCR``), the log a sorted set scored by id, and
one Lua script increments, stores, trims and ``PUBLISH``es atomically. Every process therefore
hands out ids from the same sequence and every subscriber sees them in order, whichever
process made the change; a browser may reconnect to any process and resume.
"""

from __future__ import annotations

import abc
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aaf import ServerSentEvent
from aaf.broadcast import Broadcast

__all__ = ["EventLog", "FeedEvent", "MemoryEventLog", "RedisEventLog"]

DEFAULT_CHANNEL = "feed:tasks"
DEFAULT_MAX_EVENTS = 1000


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One change: ``kind`` (created/updated/deleted) and ``data`` (the task as JSON text)."""

    id: int
    kind: str
    data: str

    def encode(self) -> str:
        """The text stored in the log and published on the channel: ``"<id> <kind> <data>"``."""
        return f"{self.id} {self.kind} {self.data}"

    @classmethod
    def decode(cls, text: str) -> FeedEvent:
        id_text, kind, data = text.split(" ", 2)
        return cls(int(id_text), kind, data)

    def to_sse(self) -> ServerSentEvent:
        return ServerSentEvent(self.data, event=self.kind, id=str(self.id))


def _missed(events: list[FeedEvent], after: int, newest: int) -> list[FeedEvent] | None:
    """``events`` (the log's events after ``after``) if nothing after ``after`` is missing."""
    if after > newest:
        return None  # an id this log never gave out (the log was reset since)
    if events and events[0].id != after + 1:
        return None  # the events in between were trimmed
    if not events and newest > after:
        return None
    return events


class EventLog(abc.ABC):
    """Numbered events: ``append`` stores and publishes, ``since`` replays."""

    def __init__(self, channel: str, max_events: int) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        #: The broadcast channel every new event is published on (as ``FeedEvent.encode()``).
        self.channel = channel
        self.max_events = max_events

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def append(self, kind: str, data: str) -> FeedEvent:
        """Give the event the next id, keep it, publish it; the stored event."""

    @abc.abstractmethod
    async def since(self, after: int) -> list[FeedEvent] | None:
        """The events with ids above ``after``, oldest first; None if some are no longer kept
        (or ``after`` is not from this log): the client must reload everything."""

    @abc.abstractmethod
    async def last_id(self) -> int:
        """The id of the newest event (0 before the first)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class MemoryEventLog(EventLog):
    """The log in this process's memory, published through a ``memory://`` broadcast."""

    def __init__(
        self,
        broadcast: Broadcast,
        *,
        channel: str = DEFAULT_CHANNEL,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        super().__init__(channel, max_events)
        if not broadcast.url.startswith("memory:"):
            # With a Redis broadcast, processes would number their events independently.
            raise ValueError(
                "MemoryEventLog numbers events in one process; with a redis:// broadcast use "
                "RedisEventLog on the same Redis"
            )
        self.broadcast = broadcast
        self._events: deque[FeedEvent] = deque(maxlen=max_events)
        self._last = 0

    async def open(self) -> None:
        return None  # nothing to connect to

    async def close(self) -> None:
        return None  # the events stay for as long as the process lives

    async def append(self, kind: str, data: str) -> FeedEvent:
        self._last += 1
        event = FeedEvent(self._last, kind, data)
        self._events.append(event)
        # In order: a memory:// publish delivers before it returns, without yielding to another
        # append in between.
        await self.broadcast.publish(self.channel, event.encode())
        return event

    async def since(self, after: int) -> list[FeedEvent] | None:
        return _missed([e for e in self._events if e.id > after], after, self._last)

    async def last_id(self) -> int:
        return self._last


# KEYS[1] the id counter, KEYS[2] the log; ARGV[1] "<kind> <data>", ARGV[2] max events,
# ARGV[3] the channel. Scripts run atomically: ids, log and PUBLISH order always agree.
_APPEND = """
local id = redis.call('INCR', KEYS[1])
local record = id .. ' ' .. ARGV[1]
redis.call('ZADD', KEYS[2], id, record)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -1 - tonumber(ARGV[2]))
redis.call('PUBLISH', ARGV[3], record)
return id
"""


class RedisEventLog(EventLog):
    """The log in Redis, shared by every process (see the module docs).

    The feed's broadcast must use the same Redis: events are published there by the script.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        max_events: int = DEFAULT_MAX_EVENTS,
        key_prefix: str = "feed:tasks:",
    ) -> None:
        super().__init__(channel, max_events)
        self.url = url
        self.seq_key = key_prefix + "seq"
        self.log_key = key_prefix + "log"
        self._client: Any = None
        self._append: Any = None

    def __repr__(self) -> str:
        return f"RedisEventLog(channel={self.channel!r})"  # the URL may hold a password

    async def open(self) -> None:
        if self._client is not None:
            return
        import redis.asyncio as redis  # the 'redis' extra

        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            await client.ping()  # fail at startup, not at the first change
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._append = client.register_script(_APPEND)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(
                "RedisEventLog is not open; open it in the app lifespan (async with log:)"
            )
        return self._client

    async def append(self, kind: str, data: str) -> FeedEvent:
        client = self.client
        new_id = await self._append(
            keys=[self.seq_key, self.log_key],
            args=[f"{kind} {data}", self.max_events, self.channel],
            client=client,
        )
        return FeedEvent(int(new_id), kind, data)

    async def since(self, after: int) -> list[FeedEvent] | None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zrangebyscore(self.log_key, f"({after}", "+inf")
            pipe.get(self.seq_key)
            records, newest = await pipe.execute()
        events = [FeedEvent.decode(record) for record in records]
        return _missed(events, after, int(newest or 0))

    async def last_id(self) -> int:
        return int(await self.client.get(self.seq_key) or 0)
