"""Resumable server-sent events: a bounded log of numbered events, replayed after a reconnect.

::

    log = MemoryEventLog(broadcast)             # or RedisEventLog(url): shared by processes
    await log.append("created", '{"id": 7}')    # numbered, kept, published on log.channel

    @router.get("/events")
    async def events(conn):
        subscription = await stack.enter_async_context(broadcast.subscribe(log.channel))
        conn.on_finish(stack.aclose)
        return resumable_response(log, subscription, conn.req_headers.get("last-event-id"))

The response first sends what the client missed since its ``Last-Event-ID`` (the log keeps the
last ``max_events``), then the live events. A client that cannot be caught up gets a ``reset``
event (data ``{}``, id the newest id): reload everything, then follow the stream.

**Event ids** are ``"<epoch>-<counter>"``, for example ``"675e3a1b9f04c2d1-42"``:

- ``<epoch>``: 16 lowercase hex digits, chosen when the log's history begins: 8 for the Unix
  time in seconds and 8 random ones. A ``MemoryEventLog`` picks one per instance (so a
  restarted process has a new one); a ``RedisEventLog`` keeps it in Redis next to the counter
  and picks a new one when the key is gone (Redis lost or flushed its data).
- ``<counter>``: decimal, 1 for the first event of an epoch, strictly increasing within it
  (``<epoch>-0`` is "before the first event"). Ids of different epochs are not ordered.

A ``Last-Event-ID`` from another epoch, a malformed one, or one older than what the log still
keeps gets a ``reset`` - never a silent gap. An empty or missing header is a new client: it
gets one frame with the current id (and ``retry``) so it resumes from the right place.
"""

from __future__ import annotations

import abc
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from ._http import HeadersLike
from .broadcast import Broadcast
from .sse import EventSourceResponse, ServerSentEvent

__all__ = [
    "EventId",
    "EventLog",
    "LoggedEvent",
    "MemoryEventLog",
    "RedisEventLog",
    "new_epoch",
    "parse_event_id",
    "resumable_events",
    "resumable_response",
]

DEFAULT_CHANNEL = "events"
DEFAULT_MAX_EVENTS = 1000
# APPSEC: bounded shapes, so a hostile Last-Event-ID cannot make int() chew on huge input.
_ID = re.compile(r"([0-9a-f]{16})-(0|[1-9][0-9]{0,17})")
_RESET_DATA = "{}"


def new_epoch() -> str:
    """A fresh epoch: the time (so epochs rarely repeat) and randomness (so two processes
    starting in the same second still differ)."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class EventId:
    """A position in a log: ``epoch`` (which history) and ``counter`` (0 before the first)."""

    epoch: str
    counter: int

    def __str__(self) -> str:
        return f"{self.epoch}-{self.counter}"

    def next(self) -> EventId:
        return EventId(self.epoch, self.counter + 1)


def parse_event_id(text: str) -> EventId | None:
    """``text`` as an ``EventId``, or None when it is not one (see the module docs)."""
    match = _ID.fullmatch(text) if text.isascii() else None
    return None if match is None else EventId(match[1], int(match[2]))


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event of a log: its ``id``, ``event`` name and ``data`` (text)."""

    id: EventId
    event: str
    data: str

    def encode(self) -> str:
        """The text stored and published: ``"<id> <event> <data>"``."""
        return f"{self.id} {self.event} {self.data}"

    @classmethod
    def decode(cls, text: str) -> LoggedEvent:
        id_text, event, data = text.split(" ", 2)
        event_id = parse_event_id(id_text)
        if event_id is None:
            raise ValueError(f"not a logged event (bad id {id_text!r}): {text[:80]!r}")
        return cls(event_id, event, data)

    def to_sse(self) -> ServerSentEvent:
        return ServerSentEvent(self.data, event=self.event, id=str(self.id))


def _missed(events: list[LoggedEvent], after: EventId, newest: EventId) -> list[LoggedEvent] | None:
    """``events`` (those after ``after``, oldest first) if none after ``after`` is missing."""
    if after.epoch != newest.epoch or after.counter > newest.counter:
        return None  # another history (a restart, lost data), or an id never given out
    if events and events[0].id.counter != after.counter + 1:
        return None  # the ones in between were dropped from the bounded log
    if not events and newest.counter > after.counter:
        return None
    return events


class EventLog(abc.ABC):
    """Numbered events: ``append`` numbers, keeps and publishes; ``since`` replays."""

    def __init__(self, channel: str, max_events: int) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        #: Where every new event is published (as ``LoggedEvent.encode()``).
        self.channel = channel
        self.max_events = max_events

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def append(self, event: str, data: str) -> LoggedEvent:
        """Give the event the next id, keep it, publish it; the stored event."""

    @abc.abstractmethod
    async def since(self, after: EventId) -> list[LoggedEvent] | None:
        """The events after ``after``, oldest first; None if some are no longer kept or
        ``after`` is not from this history: the client must reload everything."""

    @abc.abstractmethod
    async def last_id(self) -> EventId:
        """The id of the newest event (counter 0 before the first)."""

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
    """The log in this process's memory, published on a ``memory://`` broadcast.

    A new instance (a restarted process) starts a new epoch, so old ids get a ``reset``.
    """

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
        self._events: deque[LoggedEvent] = deque(maxlen=max_events)
        self._last = EventId(new_epoch(), 0)

    async def open(self) -> None:
        return None  # nothing to connect to

    async def close(self) -> None:
        return None  # the events live as long as the instance

    async def append(self, event: str, data: str) -> LoggedEvent:
        self._last = self._last.next()
        logged = LoggedEvent(self._last, event, data)
        self._events.append(logged)
        # In id order: a memory:// publish delivers before it returns, with no other append
        # in between.
        await self.broadcast.publish(self.channel, logged.encode())
        return logged

    async def since(self, after: EventId) -> list[LoggedEvent] | None:
        if after.epoch != self._last.epoch:
            return None
        missed = [e for e in self._events if e.id.counter > after.counter]
        return _missed(missed, after, self._last)

    async def last_id(self) -> EventId:
        return self._last


# Every script starts the same way: KEYS[1] the epoch, KEYS[2] the counter, KEYS[3] the log,
# ARGV[1] a fresh epoch. No epoch key means a new history (first use, or Redis lost its data):
# store the fresh epoch and drop any counter or log left from the old one (partial eviction).
_ENSURE_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
"""
# ARGV[2] "<event> <data>", ARGV[3] max events, ARGV[4] the channel. Atomic: ids, log and
# PUBLISH order always agree, across processes.
_APPEND = (
    _ENSURE_EPOCH
    + """
local n = redis.call('INCR', KEYS[2])
local record = epoch .. '-' .. n .. ' ' .. ARGV[2]
redis.call('ZADD', KEYS[3], n, record)
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], record)
return {epoch, n}
"""
)
# ARGV[2] the counter to read after ("" for none): the epoch, the newest counter, the records.
_STATE = (
    _ENSURE_EPOCH
    + """
local newest = redis.call('GET', KEYS[2]) or '0'
local records = {}
if ARGV[2] ~= '' then
  records = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[2], '+inf')
end
return {epoch, newest, records}
"""
)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisEventLog(EventLog):
    """The log in Redis, shared by every process: keys ``<key_prefix>epoch``, ``...seq`` (the
    counter) and ``...log`` (a sorted set). Publish through a Broadcast on the same Redis."""

    def __init__(
        self,
        url: str,
        *,
        channel: str = DEFAULT_CHANNEL,
        max_events: int = DEFAULT_MAX_EVENTS,
        key_prefix: str | None = None,
    ) -> None:
        super().__init__(channel, max_events)
        self.url = url
        prefix = f"{channel}:" if key_prefix is None else key_prefix
        self.keys = [prefix + "epoch", prefix + "seq", prefix + "log"]
        self._client: Any = None
        self._append: Any = None
        self._state: Any = None

    def __repr__(self) -> str:
        return f"RedisEventLog(channel={self.channel!r})"  # the URL may hold a password

    async def open(self) -> None:
        if self._client is not None:
            return
        try:
            import redis.asyncio as redis  # the optional 'redis' extra
        except ImportError:
            raise RuntimeError("RedisEventLog needs redis-py: pip install 'aaf[redis]'") from None
        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            await client.ping()  # fail at startup, not at the first event
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._append = client.register_script(_APPEND)
        self._state = client.register_script(_STATE)

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

    async def append(self, event: str, data: str) -> LoggedEvent:
        epoch, counter = await self._append(
            keys=self.keys,
            args=[new_epoch(), f"{event} {data}", self.max_events, self.channel],
            client=self.client,
        )
        return LoggedEvent(EventId(_text(epoch), int(counter)), event, data)

    async def _read(self, after: int | None) -> tuple[EventId, list[LoggedEvent]]:
        epoch, newest, records = await self._state(
            keys=self.keys,
            args=[new_epoch(), "" if after is None else after],
            client=self.client,
        )
        events = [LoggedEvent.decode(_text(record)) for record in records]
        return EventId(_text(epoch), int(newest)), events

    async def since(self, after: EventId) -> list[LoggedEvent] | None:
        newest, events = await self._read(after.counter)
        return _missed(events, after, newest)

    async def last_id(self) -> EventId:
        newest, _ = await self._read(None)
        return newest


async def _catch_up(log: EventLog, after: EventId) -> tuple[list[ServerSentEvent], EventId]:
    """What to send a client that saw up to ``after``, and the id it is then at."""
    missed = await log.since(after)
    if missed is None:
        newest = await log.last_id()
        return [ServerSentEvent(_RESET_DATA, event="reset", id=str(newest))], newest
    return [event.to_sse() for event in missed], (missed[-1].id if missed else after)


async def resumable_events(
    log: EventLog,
    subscription: AsyncIterable[str],
    last_event_id: str | None,
    *,
    retry: int | None = None,
) -> AsyncGenerator[ServerSentEvent, None]:
    """The stream for a client that last saw ``last_event_id`` (None or "": a new client).

    ``subscription`` (to ``log.channel``) must be open before this starts reading the log: an
    event is then in what was read or delivered to the subscription (or both; ids sort it out).
    ``retry`` (ms) goes into the first frame of a new client.
    """
    if not last_event_id:
        seen = await log.last_id()
        yield ServerSentEvent(id=str(seen), retry=retry)
    else:
        after = parse_event_id(last_event_id)
        if after is None:
            # Malformed: what it missed cannot be known, so start it over.
            after = EventId("", 0)
        replay, seen = await _catch_up(log, after)
        for frame in replay:
            yield frame
    async for message in subscription:
        event = LoggedEvent.decode(message)
        if event.id.epoch == seen.epoch and event.id.counter <= seen.counter:
            continue  # already sent from the log
        if event.id != seen.next():
            # A hole (the subscription dropped messages because this client fell behind) or
            # a new epoch (Redis lost its data): refill from the log, or reset.
            replay, seen = await _catch_up(log, seen)
            for frame in replay:
                yield frame
            continue
        seen = event.id
        yield event.to_sse()


def resumable_response(
    log: EventLog,
    subscription: AsyncIterable[str],
    last_event_id: str | None,
    *,
    retry: int | None = None,
    ping_interval: float | None = 15.0,
    idle_timeout: float | None = None,
    headers: HeadersLike | None = None,
) -> EventSourceResponse:
    """An ``EventSourceResponse`` of :func:`resumable_events`: what the client missed since
    ``last_event_id`` (its ``Last-Event-ID`` header), then the live events of ``subscription``.

    The caller owns ``subscription``: open it before calling, close it when the request ends
    (``conn.on_finish``). When the server stops, the stream ends cleanly (see
    ``EventSourceResponse``): the client resumes elsewhere from its last id."""
    return EventSourceResponse(
        resumable_events(log, subscription, last_event_id, retry=retry),
        headers=headers,
        ping_interval=ping_interval,
        idle_timeout=idle_timeout,
    )
