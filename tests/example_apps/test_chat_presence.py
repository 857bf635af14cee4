"""examples/chat presence: member counts per room in memory and in Redis (refreshes, crashed
processes, shutdown), beside the chat protocol tests of tests/example_apps/test_chat.py."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as redis
from examples.chat import MemoryPresence, RedisPresence


async def test_memory_presence_counts_members_per_room() -> None:
    async with MemoryPresence() as presence:
        assert await presence.join("a", "m1") == 1
        assert await presence.join("a", "m2") == 2
        assert await presence.join("a", "m2") == 2  # the same member twice is one member
        assert await presence.join("b", "m3") == 1
        assert await presence.leave("a", "m1") == 1
        assert await presence.leave("a", "m2") == 0
        assert await presence.leave("a", "m2") == 0
        assert await presence.leave("nowhere", "m9") == 0
        assert (await presence.count("a"), await presence.count("b")) == (0, 1)


async def test_redis_presence_forgets_members_of_a_process_that_died(redis_url: str) -> None:
    async with RedisPresence(redis_url, ttl=30) as presence, redis.Redis.from_url(redis_url) as raw:
        assert await presence.join("lobby", "alive") == 1
        # What a crashed process leaves behind: members nobody refreshes any more.
        await raw.zadd("chat:presence:lobby", {"ghost": time.time() - 1})
        assert await presence.count("lobby") == 1
        assert await raw.zrange("chat:presence:lobby", 0, -1) == [b"alive"]
        assert await raw.ttl("chat:presence:lobby") > 0  # an abandoned room vanishes too


async def test_redis_presence_refreshes_its_own_members_only(redis_url: str) -> None:
    async with RedisPresence(redis_url, ttl=30) as presence, redis.Redis.from_url(redis_url) as raw:
        await presence.join("lobby", "mine")
        await presence.join("lobby", "gone")
        await presence.leave("lobby", "gone")
        await raw.zadd("chat:presence:lobby", {"mine": 1.0})  # about to expire
        await presence.refresh()
        score = await raw.zscore("chat:presence:lobby", "mine")
        assert score is not None
        assert score > time.time() + 20
        # A member that left is not brought back by a refresh.
        assert await raw.zscore("chat:presence:lobby", "gone") is None
        assert await presence.count("lobby") == 1


class RefreshWatch:
    """Counts a RedisPresence's background refreshes (the first may be made to fail)."""

    def __init__(self, presence: RedisPresence, *, fail_first: bool = False) -> None:
        self.started = 0
        self.finished = 0  # the number of the last refresh that ended
        self._ended = asyncio.Event()
        real_refresh = presence.refresh

        async def refresh() -> None:
            self.started += 1
            number = self.started
            try:
                if fail_first and number == 1:
                    raise ConnectionError("redis hiccup")
                await real_refresh()
            finally:
                self.finished = number
                self._ended.set()

        presence.refresh = refresh  # type: ignore[method-assign]

    async def one_started_after(self, mark: int) -> None:
        """Wait (bounded) for a refresh that began after ``mark`` refreshes had begun."""

        async def wait() -> None:
            while self.finished <= mark:
                self._ended.clear()
                await self._ended.wait()

        await asyncio.wait_for(wait(), 5)


async def test_redis_presence_keeps_refreshing_in_the_background(redis_url: str) -> None:
    async with (
        RedisPresence(redis_url, ttl=0.3) as presence,
        redis.Redis.from_url(redis_url) as raw,
    ):
        watch = RefreshWatch(presence)
        await presence.join("lobby", "mine")
        mark = watch.started
        first = await raw.zscore("chat:presence:lobby", "mine")
        await watch.one_started_after(mark)
        later = await raw.zscore("chat:presence:lobby", "mine")
        assert first is not None
        assert later is not None
        assert later > first


async def test_redis_presence_survives_a_failed_refresh(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        RedisPresence(redis_url, ttl=0.06) as presence,
        redis.Redis.from_url(redis_url) as raw,
    ):
        watch = RefreshWatch(presence, fail_first=True)
        await presence.join("lobby", "mine")
        await watch.one_started_after(1)  # the first one failed; the loop went on
        await raw.zadd("chat:presence:lobby", {"mine": 1.0})
        await watch.one_started_after(watch.started)
        score = await raw.zscore("chat:presence:lobby", "mine")
        assert score is not None
        assert score > 1.0
    assert "could not refresh chat presence in Redis" in caplog.text


async def test_redis_presence_removes_its_members_at_shutdown(redis_url: str) -> None:
    async with redis.Redis.from_url(redis_url) as raw:
        presence = RedisPresence(redis_url)
        await presence.open()
        await presence.open()  # a second open changes nothing
        await presence.join("lobby", "m1")
        await presence.join("kitchen", "m2")
        await raw.zadd("chat:presence:lobby", {"other-process": time.time() + 30})
        await presence.close()
        await presence.close()
        assert await raw.zrange("chat:presence:lobby", 0, -1) == [b"other-process"]
        assert await raw.exists("chat:presence:kitchen") == 0
        with pytest.raises(RuntimeError, match="RedisPresence is not open"):
            await presence.count("lobby")
        assert redis_url not in repr(presence)


async def test_redis_presence_refuses_a_bad_ttl_and_an_unreachable_server() -> None:
    with pytest.raises(ValueError, match="ttl must be a positive"):
        RedisPresence("redis://127.0.0.1:1/0", ttl=0)
    with pytest.raises(redis.ConnectionError):
        await RedisPresence("redis://127.0.0.1:1/0").open()
