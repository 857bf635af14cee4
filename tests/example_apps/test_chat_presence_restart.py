"""RedisPresence after Redis restarts on the same address: the pooled connections are dead,
and the first command on each must not fail the join (it used to close the socket with 1011)."""

from __future__ import annotations

import pytest
import redis.exceptions
from examples.chat import RedisPresence, chat_router

from aaf import aaf
from aaf.broadcast import Broadcast
from aaf.testing import AsyncTestClient

from ..support.redis import redis_process

pytestmark = pytest.mark.integration


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


async def test_presence_reconnects_once_after_a_redis_restart() -> None:
    with redis_process() as (url, first):
        async with RedisPresence(url) as presence:
            assert await presence.join("lobby", "a") == 1
            first.terminate()
            first.wait(10)
            with redis_process(port_of(url)):  # back on the same address, with no data
                assert await presence.join("lobby", "b") == 1
                assert await presence.count("lobby") == 1
                assert await presence.leave("lobby", "b") == 0


async def test_presence_still_fails_while_redis_is_down() -> None:
    with redis_process() as (url, first):
        async with RedisPresence(url) as presence:
            assert await presence.join("lobby", "a") == 1
            first.terminate()
            first.wait(10)
            # One bounded retry, then the error: the router turns it into a close.
            with pytest.raises(redis.exceptions.ConnectionError):
                await presence.join("lobby", "b")


async def test_the_first_chat_join_after_a_redis_restart_is_welcomed() -> None:
    with redis_process() as (url, first):
        # An in-memory broadcast: the Redis presence alone is under test (the Redis broadcast's
        # own recovery is covered in tests/test_broadcast_faults.py).
        async with (
            Broadcast("memory://") as broadcast,
            RedisPresence(url) as presence,
            AsyncTestClient(aaf([chat_router(broadcast, presence)])) as client,
        ):
            async with client.websocket_connect("/chat/lobby?user=alice", timeout=5) as ws:
                assert (await ws.receive_json())["user_count"] == 1
            first.terminate()
            first.wait(10)
            with redis_process(port_of(url)):
                async with client.websocket_connect("/chat/lobby?user=bob", timeout=5) as ws:
                    joined = await ws.receive_json()
                    assert (joined["type"], joined["user"], joined["user_count"]) == (
                        "user_joined",
                        "bob",
                        1,
                    )
