"""The pieces every broadcast backend shares: the errors, ``Subscription`` (one subscriber's
bounded queue) and ``_Hub`` (this process's channel -> subscribers fan-out); see aaf.broadcast."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from .errors import HTTPError

logger = logging.getLogger("aaf.broadcast")


class BroadcastError(RuntimeError):
    """The broadcast is not connected, or lost its backend (Redis went away)."""


class BroadcastUnavailable(BroadcastError, HTTPError):
    """The backend (Redis) failed or did not answer in time; retrying later may work.

    It is also an ``HTTPError(503)`` with ``Retry-After``: raised in an HTTP handler it answers
    503 (clients retry), in a WebSocket handler it denies the connection with 503 before
    ``accept()`` and closes it with 1013 (try again later) after.
    """

    #: Seconds a client is asked to wait before retrying (the ``Retry-After`` header).
    retry_after = 2

    def __init__(self, message: str) -> None:
        HTTPError.__init__(
            self, 503, "broadcast unavailable", headers={"retry-after": str(self.retry_after)}
        )
        # The 503 body stays generic (APPSEC: no Redis address for clients); logs get this.
        self.message = message

    def __str__(self) -> str:
        return self.message


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
                    raise BroadcastUnavailable(str(self._error)) from self._error
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
