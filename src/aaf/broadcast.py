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

Redis down or frozen: a subscribe waits at most ``timeout`` seconds (default 2) for Redis to
confirm, a publish at most ``publish_timeout`` (default 1); then, or on any Redis error, they
raise ``BroadcastUnavailable``, which is an ``HTTPError(503)`` with ``Retry-After``: a handler
that lets it through answers 503 (a WebSocket: denied with 503 before ``accept()``, closed with
1013 "try again later" after). A failed subscribe leaves nothing subscribed: the pub/sub
connection is closed (Redis drops its subscriptions), its subscriptions end with
``BroadcastUnavailable``, and the next subscribe opens a new connection. Subscribes to different
channels never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from types import TracebackType
from urllib.parse import urlsplit

from ._broadcast_hub import BroadcastError, BroadcastUnavailable, Subscription, _Backend, _Hub
from ._broadcast_redis import _cancel_for_sure as _cancel_for_sure  # for its tests
from ._broadcast_redis import _RedisBackend

__all__ = ["Broadcast", "BroadcastError", "BroadcastUnavailable", "Subscription"]

logger = logging.getLogger("aaf.broadcast")


class Broadcast:
    """Publish/subscribe across connections (``memory://``) or processes (``redis://``).

    ``max_queue`` bounds each subscriber's backlog (see the module docs for what happens when
    it is full). ``timeout`` bounds a subscribe (Redis must confirm it in time) and
    ``publish_timeout`` a publish, in seconds; past them, or when Redis fails, they raise
    ``BroadcastUnavailable`` (a 503). Call ``connect()``/``disconnect()`` from the app's
    lifespan, or use ``async with broadcast:``.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        max_queue: int = 1000,
        timeout: float = 2.0,
        publish_timeout: float = 1.0,
    ) -> None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, not {max_queue}")
        if not timeout > 0 or not publish_timeout > 0:
            raise ValueError(
                f"timeout and publish_timeout are seconds above 0, not {timeout}/{publish_timeout}"
            )
        self.url = url
        self.max_queue = max_queue
        self.timeout = timeout
        self.publish_timeout = publish_timeout
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
        self._locks = _ChannelLocks()

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
        """Send ``message`` to every subscriber of ``channel`` (never waits for them).

        Raises ``BroadcastUnavailable`` when Redis fails or takes over ``publish_timeout``."""
        self._check_connected()
        if not isinstance(message, str):
            raise TypeError(
                f"broadcast messages are str, not {type(message).__name__}; encode data first "
                "(for example with json.dumps)"
            )
        try:
            async with asyncio.timeout(self.publish_timeout):
                await self._backend.publish(channel, message)
        except TimeoutError:
            error = BroadcastUnavailable(
                f"publishing to {channel!r} took over {self.publish_timeout}s (publish_timeout)"
            )
            logger.warning("%s", error)
            raise error from None
        except BroadcastUnavailable as exc:
            logger.warning("%s", exc)
            raise

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        """Receive the messages published on ``channel`` while the block runs.

        Raises ``BroadcastUnavailable`` when Redis fails or does not confirm within ``timeout``
        (nothing is left subscribed then)."""
        self._check_connected()
        subscription = Subscription(channel, self.max_queue)
        try:
            # One deadline for queueing behind other subscribers of the same channel and for
            # the backend: a frozen Redis fails every subscribe after ``timeout``, not later.
            async with asyncio.timeout(self.timeout), self._locks.hold(channel):
                subscribers = self._hub.channels.get(channel)
                if subscribers is None:
                    await self._backend.listen(channel)
                    subscribers = self._hub.channels.setdefault(channel, set())
                subscribers.add(subscription)
        except TimeoutError:
            error = BroadcastUnavailable(
                f"Redis did not confirm the subscription to {channel!r} within {self.timeout}s"
            )
            logger.warning("%s", error)
            raise error from None
        except BroadcastUnavailable as exc:
            logger.warning("%s", exc)
            raise
        try:
            yield subscription
        finally:
            subscription._close()
            async with self._locks.hold(channel):
                subscribers = self._hub.channels.get(channel)
                if subscribers is not None and subscription in subscribers:
                    self._hub.dropped_closed += subscription.dropped
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._hub.channels[channel]
                        await self._backend.unlisten(channel)


class _ChannelLocks:
    """One lock per channel, kept only while someone holds or waits for it: subscribes to
    different channels never wait for each other."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, channel: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(channel) or (asyncio.Lock(), 0)
        self._locks[channel] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[channel]
            if users == 1:
                del self._locks[channel]
            else:
                self._locks[channel] = (lock, users - 1)
