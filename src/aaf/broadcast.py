"""Broadcast: publish a message on a channel, every subscriber of that channel receives it.

::

    broadcast = Broadcast("redis://localhost:6379/0")   # or "memory://" (one process)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async with broadcast:                 # connect() ... disconnect()
            yield

    await broadcast.publish("room:42", "hello")

    async with broadcast.subscribe("room:42") as subscription:
        async for message in subscription:
            ...

``memory://`` fans out inside one process. ``redis://host:port/db`` (and ``rediss://``) goes
through Redis pub/sub with redis-py's asyncio client (``pip install redis``, aaf's ``redis``
extra), so every process and machine connected to that Redis sees every message; each process
holds one Redis connection for all its subscribers and fans out locally.

Messages are strings. Delivery is at most once: a subscriber sees messages published after its
``subscribe()`` has been entered (with Redis: after Redis confirmed the subscription), while
the process is connected.

Slow subscribers: each subscription has a bounded queue (``max_queue``, default 1000 messages).
Publishing never waits for subscribers. When a subscriber's queue is full, its OLDEST queued
message is dropped to make room for the new one; ``subscription.dropped`` counts the losses and
a warning is logged on the first one. A slow consumer therefore loses old messages, never
blocks the publisher, and never holds more than ``max_queue`` messages in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Broadcast", "BroadcastError", "Subscription"]

logger = logging.getLogger("aaf.broadcast")


class BroadcastError(RuntimeError):
    """The broadcast is not connected, or lost its backend (Redis went away)."""


class Subscription:
    """Messages of one channel for one subscriber: ``async for message in subscription``.

    The iteration ends when the broadcast disconnects; it raises ``BroadcastError`` if the
    backend connection is lost.
    """

    __slots__ = ("_closed", "_error", "_queue", "_waiter", "channel", "dropped")

    def __init__(self, channel: str, max_queue: int) -> None:
        self.channel = channel
        #: Messages dropped because this subscriber fell ``max_queue`` messages behind.
        self.dropped = 0
        # PERF: a deque with maxlen drops the oldest item by itself when full.
        self._queue: deque[str] = deque(maxlen=max_queue)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._error: BaseException | None = None

    def _put(self, message: str) -> None:
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning(
                    "subscriber of %r is %d messages behind; dropping its oldest messages",
                    self.channel,
                    queue.maxlen,
                )
        queue.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _close(self, error: BaseException | None = None) -> None:
        self._closed = True
        self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> str:
        while not self._queue:
            if self._closed:
                if self._error is not None:
                    raise BroadcastError(str(self._error)) from self._error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def __repr__(self) -> str:
        return f"<Subscription {self.channel!r} queued={len(self._queue)} dropped={self.dropped}>"


class _Hub:
    """Local fan-out: channel -> the subscriptions of this process."""

    def __init__(self) -> None:
        self.channels: dict[str, set[Subscription]] = {}
        # Drops of subscriptions already closed (live ones keep their own count).
        self.dropped_closed = 0

    def deliver(self, channel: str, message: str) -> None:
        for subscription in self.channels.get(channel, ()):
            subscription._put(message)

    def close_all(self, error: BaseException | None = None) -> None:
        for subscriptions in self.channels.values():
            for subscription in subscriptions:
                self.dropped_closed += subscription.dropped
                subscription._close(error)
        self.channels.clear()


class _Backend:
    """Where messages travel between processes; the memory backend does not leave this one."""

    def __init__(self, hub: _Hub) -> None:
        self.hub = hub

    async def connect(self) -> None:
        pass

    async def disconnect(self) -> None:
        pass

    async def publish(self, channel: str, message: str) -> None:
        self.hub.deliver(channel, message)

    async def listen(self, channel: str) -> None:
        """The first local subscriber of ``channel`` arrived."""

    async def unlisten(self, channel: str) -> None:
        """The last local subscriber of ``channel`` left."""


class _RedisBackend(_Backend):
    """Redis pub/sub: one connection for SUBSCRIBE (read by one task), the pool for PUBLISH."""

    # How long to wait for Redis to confirm a SUBSCRIBE before giving up.
    confirm_timeout = 10.0
    # How long disconnect() keeps cancelling the reader task before leaving it behind.
    stop_timeout = 5.0

    def __init__(self, hub: _Hub, url: str) -> None:
        super().__init__(hub)
        self.url = url
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}

    async def connect(self) -> None:
        try:
            import redis.asyncio as redis  # the optional 'redis' extra
        except ImportError:
            raise BroadcastError(
                "a redis:// broadcast needs redis-py: pip install redis (aaf's 'redis' extra)"
            ) from None
        client = redis.Redis.from_url(self.url)
        try:
            await client.ping()  # fail at startup, not at the first publish
        except Exception as exc:
            await client.aclose()
            raise BroadcastError(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._client = client
        self._pubsub = client.pubsub()

    async def disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await _cancel_for_sure(reader, self.stop_timeout)
        self._confirmations.clear()
        await self._pubsub.aclose()
        await self._client.aclose()

    async def publish(self, channel: str, message: str) -> None:
        await self._client.publish(channel, message)

    async def listen(self, channel: str) -> None:
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(confirmed)
        await self._pubsub.subscribe(channel)
        if self._reader is None or self._reader.done():
            # First subscriber, or the reader ended when the connection was lost (redis-py
            # reconnected for this SUBSCRIBE): start reading again.
            self._reader = asyncio.get_running_loop().create_task(self._read())
        try:
            async with asyncio.timeout(self.confirm_timeout):
                await confirmed
        except TimeoutError:
            raise BroadcastError(
                f"Redis did not confirm the subscription to {channel!r} within "
                f"{self.confirm_timeout}s"
            ) from None

    async def unlisten(self, channel: str) -> None:
        await self._pubsub.unsubscribe(channel)

    async def _read(self) -> None:
        pubsub = self._pubsub
        try:
            while True:
                message = await pubsub.get_message(timeout=None)
                kind = message["type"] if message else None
                if kind == "message":
                    channel = message["channel"].decode("utf-8", "replace")
                    self.hub.deliver(channel, message["data"].decode("utf-8", "replace"))
                elif kind == "subscribe":
                    channel = message["channel"].decode("utf-8", "replace")
                    for waiter in self._confirmations.pop(channel, ()):
                        # A subscriber that timed out has given up on (cancelled) its waiter.
                        with contextlib.suppress(asyncio.InvalidStateError):
                            waiter.set_result(None)
        except Exception as exc:
            logger.exception("lost the Redis pub/sub connection at %s", self.url)
            error = BroadcastError(f"lost the Redis pub/sub connection: {exc}")
            for waiters in self._confirmations.values():
                for waiter in waiters:
                    with contextlib.suppress(asyncio.InvalidStateError):
                        waiter.set_exception(error)
            self._confirmations.clear()
            self.hub.close_all(error)


async def _cancel_for_sure(task: asyncio.Task[None], patience: float) -> None:
    """Cancel ``task`` and wait for it, cancelling again while it survives, for ``patience`` s.

    redis-py on Python 3.11 can lose a cancellation that lands just as a command completes (an
    asyncio.wait_for inside it), and the reader then blocks again: a single cancel() followed by
    an unbounded wait could hang the app's shutdown.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.done():
        logger.warning("the Redis pub/sub reader did not stop within %ss; leaving it", patience)


class Broadcast:
    """Publish/subscribe across connections (``memory://``) or processes (``redis://``).

    ``max_queue`` bounds each subscriber's backlog (see the module docs for what happens when
    it is full). Call ``connect()``/``disconnect()`` from the app's lifespan, or use
    ``async with broadcast:``.
    """

    def __init__(self, url: str = "memory://", *, max_queue: int = 1000) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue}")
        self.url = url
        self.max_queue = max_queue
        self._hub = _Hub()
        scheme = urlsplit(url).scheme
        if scheme == "memory":
            self._backend: _Backend = _Backend(self._hub)
        elif scheme in ("redis", "rediss", "unix"):
            self._backend = _RedisBackend(self._hub, url)
        else:
            raise ValueError(
                f"unsupported broadcast URL {url!r}; use memory:// or redis://host:port/db"
            )
        self._connected = False
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        return self._connected

    # PERF: both are computed when read (a metrics scrape), so publishing counts nothing extra.
    @property
    def dropped(self) -> int:
        """Messages dropped so far, over every subscription (closed ones included)."""
        live = sum(s.dropped for subs in self._hub.channels.values() for s in subs)
        return self._hub.dropped_closed + live

    @property
    def lagging_subscribers(self) -> int:
        """Open subscriptions whose queue is full (the next message drops their oldest)."""
        return sum(
            len(s._queue) == self.max_queue for subs in self._hub.channels.values() for s in subs
        )

    async def connect(self) -> None:
        if self._connected:
            return
        await self._backend.connect()
        self._connected = True

    async def disconnect(self) -> None:
        """Disconnect; subscriptions still open end their iteration."""
        if not self._connected:
            return
        self._connected = False
        self._hub.close_all()
        await self._backend.disconnect()

    async def __aenter__(self) -> Broadcast:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    def _check_connected(self) -> None:
        if not self._connected:
            raise BroadcastError(
                f"the broadcast {self.url!r} is not connected: await broadcast.connect() first "
                "(in the app's lifespan), or use 'async with broadcast:'"
            )

    async def publish(self, channel: str, message: str) -> None:
        """Send ``message`` to every subscriber of ``channel`` (never waits for them)."""
        self._check_connected()
        if not isinstance(message, str):
            raise TypeError(
                f"broadcast messages are str, not {type(message).__name__}; encode data first "
                "(for example with json.dumps)"
            )
        await self._backend.publish(channel, message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Receive the messages published on ``channel`` while the block runs."""
        self._check_connected()
        subscription = Subscription(channel, self.max_queue)
        async with self._lock:
            subscribers = self._hub.channels.get(channel)
            if subscribers is None:
                await self._backend.listen(channel)
                subscribers = self._hub.channels.setdefault(channel, set())
            subscribers.add(subscription)
        try:
            yield subscription
        finally:
            subscription._close()
            async with self._lock:
                subscribers = self._hub.channels.get(channel)
                if subscribers is not None and subscription in subscribers:
                    self._hub.dropped_closed += subscription.dropped
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._hub.channels[channel]
                        await self._backend.unlisten(channel)
