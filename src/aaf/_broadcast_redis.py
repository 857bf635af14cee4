"""The Redis pub/sub backend of aaf.broadcast (redis-py's asyncio client, imported lazily)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ._broadcast_hub import BroadcastError, BroadcastUnavailable, _Backend, _Hub

logger = logging.getLogger("aaf.broadcast")


class _RedisBackend(_Backend):
    """Redis pub/sub: one connection for SUBSCRIBE (read by one task), the pool for PUBLISH.

    Any failure of the pub/sub connection (an error, or Redis not answering in time) throws the
    whole connection away: its subscriptions end with ``BroadcastUnavailable`` and the next
    subscribe opens a fresh connection, so nothing stale outlives an outage and closing the
    socket makes Redis drop every subscription a failed SUBSCRIBE may have left behind.

    The connection is also closed when its last channel is unsubscribed: redis-py reads nothing
    from a pub/sub connection without subscriptions, so an idle one would not notice that Redis
    restarted, and the first subscribe afterwards would fail on the dead socket.
    """

    # How long disconnect() keeps cancelling the reader task before leaving it behind.
    stop_timeout = 5.0

    def __init__(self, hub: _Hub, url: str) -> None:
        super().__init__(hub)
        self.url = url
        self._client: Any = None
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._channels: set[str] = set()  # subscribed (confirmed) on the current connection
        # Guards opening the pub/sub connection and writing commands to it: redis-py's PubSub
        # is not safe for concurrent commands. Held for a socket write, not for the answer.
        self._send_lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

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

    async def disconnect(self) -> None:
        self._drop_connection(None)
        if self._closing:
            await asyncio.wait(self._closing, timeout=self.stop_timeout)
        await self._client.aclose()

    async def publish(self, channel: str, message: str) -> None:
        try:
            await self._client.publish(channel, message)
        except (OSError, self._redis_errors()) as exc:
            await self._forget_idle_connections()
            raise BroadcastUnavailable(f"cannot publish to Redis at {self.url}: {exc}") from exc

    def _redis_errors(self) -> type[Exception]:
        import redis  # imported by connect() already

        return redis.RedisError

    async def listen(self, channel: str) -> None:
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(confirmed)
        try:
            async with self._send_lock:
                if self._pubsub is None:
                    self._pubsub = self._client.pubsub()
                await self._pubsub.subscribe(channel)
                if self._reader is None:
                    self._reader = asyncio.get_running_loop().create_task(self._read())
            await confirmed
            self._channels.add(channel)
        except BaseException as exc:
            # Timed out (the caller's deadline cancels us), cancelled, or the connection
            # failed: the SUBSCRIBE may be half written or still queued in Redis. Closing the
            # connection is the one undo that works whatever state it is in.
            waiters = self._confirmations.get(channel, [])
            if confirmed in waiters:
                waiters.remove(confirmed)
            if not isinstance(exc, BroadcastError):  # the reader already dropped it
                error = BroadcastUnavailable(f"subscribing to {channel!r} failed: {exc!r}")
                self._drop_connection(error)
            if isinstance(exc, Exception) and not isinstance(exc, BroadcastError):
                raise BroadcastUnavailable(
                    f"cannot subscribe to {channel!r} on Redis at {self.url}: {exc}"
                ) from exc
            raise

    async def unlisten(self, channel: str) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return  # the connection was dropped, and its subscriptions with it
        self._channels.discard(channel)
        try:
            async with self._send_lock:
                await pubsub.unsubscribe(channel)
        except BaseException as exc:
            self._drop_connection(BroadcastUnavailable(f"unsubscribing failed: {exc!r}"))
            if not isinstance(exc, Exception):
                raise
            return
        if not self._channels and not self._confirmations and pubsub is self._pubsub:
            self._drop_connection(None)  # idle: the next subscribe starts on a live socket

    def _drop_connection(self, error: BroadcastError | None) -> None:
        """Forget the pub/sub connection now (the next subscribe opens a new one), end its
        subscriptions with ``error``, and close it in the background."""
        pubsub, self._pubsub = self._pubsub, None
        reader, self._reader = self._reader, None
        for waiters in self._confirmations.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error or BroadcastUnavailable("the broadcast closed"))
        self._confirmations.clear()
        self._channels.clear()
        if error is not None:
            self.hub.close_all(error)
        if pubsub is not None or reader is not None:
            # PERF: closing must not wait on a Redis that does not answer; the caller (maybe
            # a request handler) goes on at once and disconnect() waits for the stragglers.
            task = asyncio.get_running_loop().create_task(self._close(pubsub, reader))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close(self, pubsub: Any, reader: asyncio.Task[None] | None) -> None:
        if reader is not None and reader is not asyncio.current_task():
            await _cancel_for_sure(reader, self.stop_timeout)
        if pubsub is not None:
            try:
                async with asyncio.timeout(self.stop_timeout):
                    await pubsub.aclose()
            except Exception:
                logger.warning("could not close a Redis pub/sub connection", exc_info=True)
        await self._forget_idle_connections()

    async def _forget_idle_connections(self) -> None:
        """Close the idle PUBLISH connections: after Redis failed they are probably dead (a
        restarted Redis does not know them), and the next publish should not find out first."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.stop_timeout):
                await self._client.connection_pool.disconnect(inuse_connections=False)

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
                        if not waiter.done():  # one that gave up has left already
                            waiter.set_result(None)
        except Exception as exc:
            if pubsub is not self._pubsub:
                return  # this connection was dropped on purpose already
            logger.warning("lost the Redis pub/sub connection at %s: %r", self.url, exc)
            self._drop_connection(BroadcastUnavailable(f"lost the Redis pub/sub connection: {exc}"))


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
