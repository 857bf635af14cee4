"""Who is in which room, so ``user_count`` is right however many processes serve the chat.

``MemoryPresence`` counts the connections of this process: right for one process.

``RedisPresence`` keeps one sorted set per room in Redis (``chat:presence:<room>``): a member
per open connection, scored with the time it expires. Joining adds the member, leaving removes
it, and counting first drops the expired ones. Each process refreshes the expiry of its own
connections every ``ttl / 3`` seconds, so when a process dies without saying goodbye (a
crash, a SIGKILL, a lost machine) its connections stop counting within ``ttl`` seconds instead
of haunting the room forever. Scores are wall-clock times: the machines' clocks must agree to
well within ``ttl`` (NTP does that).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = ["MemoryPresence", "Presence", "RedisPresence"]

logger = logging.getLogger("examples.chat")

# Seconds close() waits for the refresher to finish its round.
STOP_TIMEOUT = 5.0

T = TypeVar("T")


class Presence(abc.ABC):
    """Counts the members of each room; a member is one open connection (an opaque id)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect to the backend (the app's lifespan calls this)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Disconnect; safe to call twice."""

    @abc.abstractmethod
    async def join(self, room: str, member: str) -> int:
        """Add ``member`` to ``room``; the room's member count afterwards."""

    @abc.abstractmethod
    async def leave(self, room: str, member: str) -> int:
        """Remove ``member`` from ``room``; the room's member count afterwards."""

    @abc.abstractmethod
    async def count(self, room: str) -> int: ...

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


class MemoryPresence(Presence):
    """The members of each room, in this process's memory."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[str]] = {}

    async def open(self) -> None:
        return None  # nothing to connect to

    async def close(self) -> None:
        self._rooms.clear()

    async def join(self, room: str, member: str) -> int:
        members = self._rooms.setdefault(room, set())
        members.add(member)
        return len(members)

    async def leave(self, room: str, member: str) -> int:
        members = self._rooms.get(room)
        if members is None:
            return 0
        members.discard(member)
        if not members:
            del self._rooms[room]  # empty rooms cost nothing
        return len(members)

    async def count(self, room: str) -> int:
        return len(self._rooms.get(room, ()))


class RedisPresence(Presence):
    """Members of each room in Redis, shared by every process (see the module docs)."""

    def __init__(self, url: str, *, ttl: float = 30.0, prefix: str = "chat:presence:") -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        self.url = url
        self.ttl = ttl
        self.prefix = prefix
        self._client: Any = None
        self._refresher: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        # This process's members: member -> room. The refresher keeps them alive.
        self._local: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"RedisPresence(ttl={self.ttl})"  # the URL may hold a password

    async def open(self) -> None:
        if self._client is not None:
            return
        import redis.asyncio as redis  # the 'redis' extra

        client = redis.Redis.from_url(self.url)
        try:
            await client.ping()  # fail at startup, not at the first join
        except BaseException:
            await client.aclose()
            raise
        self._client = client
        self._stop = asyncio.Event()
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def close(self) -> None:
        client, self._client = self._client, None
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            # Asked to stop rather than cancelled: on Python 3.11 a cancellation that lands as
            # redis-py finishes a command can be lost inside asyncio.wait_for, and the loop
            # would run on. Cancelled only if it does not stop in time.
            self._stop.set()
            _, running = await asyncio.wait({refresher}, timeout=STOP_TIMEOUT)
            for task in running:
                task.cancel()
                await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        if client is None:
            return
        try:
            if self._local:
                # A clean shutdown: our connections leave now rather than when they expire.
                async with client.pipeline(transaction=False) as pipe:
                    for member, room in self._local.items():
                        pipe.zrem(self._key(room), member)
                    await pipe.execute()
        except Exception:
            logger.warning("could not remove this process's chat members from Redis", exc_info=True)
        finally:
            self._local.clear()
            await client.aclose()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError(
                "RedisPresence is not open; open it in the app lifespan (async with presence:)"
            )
        return self._client

    def _key(self, room: str) -> str:
        return self.prefix + room

    async def _retrying(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run ``command``, and once more if the connection it used turned out dead.

        After Redis restarts, every pooled connection is closed on the server's side, and only
        the first command on each finds out; redis-py then drops it, so one retry runs on a
        fresh connection. Bounded: a second failure (Redis still down) is raised to the caller.
        Every command here is idempotent (ZADD of a score, ZREM, counting), so running one
        twice, when the first answer was lost after Redis applied it, changes nothing.
        """
        from redis.exceptions import ConnectionError as RedisConnectionError

        try:
            return await command()
        except RedisConnectionError:
            logger.info("Redis connection lost; retrying the presence update once")
            return await command()

    async def _update(self, room: str, change: tuple[str, str] | None) -> int:
        return await self._retrying(lambda: self._update_once(room, change))

    async def _update_once(self, room: str, change: tuple[str, str] | None) -> int:
        """Apply ``change`` ("add"/"remove", member), drop expired members, count the rest,
        all in one transaction."""
        now = time.time()
        key = self._key(room)
        async with self.client.pipeline(transaction=True) as pipe:
            if change is not None:
                action, member = change
                if action == "add":
                    pipe.zadd(key, {member: now + self.ttl})
                else:
                    pipe.zrem(key, member)
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zcard(key)
            # Nobody refreshed the room for a whole ttl: every member has expired anyway.
            pipe.expire(key, math.ceil(self.ttl) + 1)
            results = await pipe.execute()
        return int(results[-2])

    async def join(self, room: str, member: str) -> int:
        self._local[member] = room
        return await self._update(room, ("add", member))

    async def leave(self, room: str, member: str) -> int:
        self._local.pop(member, None)
        return await self._update(room, ("remove", member))

    async def count(self, room: str) -> int:
        return await self._update(room, None)

    async def refresh(self) -> None:
        """Push the expiry of this process's members ``ttl`` seconds into the future."""
        await self._retrying(self._refresh_once)

    async def _refresh_once(self) -> None:
        members = list(self._local.items())
        if not members:
            return
        expires = time.time() + self.ttl
        async with self.client.pipeline(transaction=False) as pipe:
            for member, room in members:
                # XX: only members still there. A member that left meanwhile stays gone
                # (without XX, a refresh racing a leave would bring a ghost back).
                pipe.zadd(self._key(room), {member: expires}, xx=True)
                pipe.expire(self._key(room), math.ceil(self.ttl) + 1)
            await pipe.execute()

    async def _refresh_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ttl / 3):
                    await self._stop.wait()
                return  # close() asked to stop
            try:
                await self.refresh()
            except Exception:
                # A Redis hiccup must not end the refresher: the next round tries again.
                logger.warning("could not refresh chat presence in Redis", exc_info=True)
