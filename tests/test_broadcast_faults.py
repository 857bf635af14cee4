"""Broadcast when Redis freezes (SIGSTOP) or goes down: bounded, undone, 503, and recovering."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
import redis.asyncio as redis
from examples.chat import MemoryPresence, chat_router
from examples.demo.app import build_app
from examples.tasks import Settings

from aaf import WebSocketDisconnect, aaf
from aaf.broadcast import Broadcast, BroadcastUnavailable, Subscription
from aaf.testing import AsyncTestClient, WebSocketDenied
from tests.support.redis import redis_process

pytestmark = pytest.mark.integration

# The subscribe/publish timeout these tests configure, in seconds. Two subscribes run one
# after the other would take 2 x BOUND; side by side they take BOUND: 1.8 x BOUND tells them
# apart with room for a loaded machine.
BOUND = 1.0


@contextlib.contextmanager
def frozen(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Redis stops answering (its sockets stay open) until the block ends."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


async def subscribers(url: str, *channels: str) -> list[int]:
    client = redis.Redis.from_url(url)
    try:
        return [int(count) for _, count in await client.pubsub_numsub(*channels)]
    finally:
        await client.aclose()


async def eventually_no_subscribers(url: str, *channels: str) -> None:
    for _ in range(200):
        if await subscribers(url, *channels) == [0] * len(channels):
            return
        await asyncio.sleep(0.01)
    assert await subscribers(url, *channels) == [0] * len(channels)


async def next_message(subscription: Subscription) -> str:
    return await asyncio.wait_for(anext(subscription), 2)


async def timed_subscribe(broadcast: Broadcast, channel: str) -> tuple[float, BaseException]:
    """When a subscribe to ``channel`` failed (loop time), and how."""
    try:
        async with broadcast.subscribe(channel):
            pass
    except Exception as exc:
        return asyncio.get_running_loop().time(), exc
    raise AssertionError(f"subscribing to {channel!r} on a frozen Redis succeeded")


async def test_subscribes_to_a_frozen_redis_fail_together_and_leave_nothing() -> None:
    with redis_process() as (url, process):
        async with Broadcast(url, timeout=BOUND) as broadcast:
            async with broadcast.subscribe("warm") as warm:  # the connection is in use
                with frozen(process):
                    start = asyncio.get_running_loop().time()
                    (end_a, error_a), (end_b, error_b) = await asyncio.gather(
                        timed_subscribe(broadcast, "room:a"), timed_subscribe(broadcast, "room:b")
                    )
                    assert isinstance(error_a, BroadcastUnavailable)
                    assert isinstance(error_b, BroadcastUnavailable)
                    # Side by side, not one after the other: both are over within the bound.
                    assert max(end_a, end_b) - start <= 1.8 * BOUND
                    # The connection was given up: its live subscription ends too.
                    with pytest.raises(BroadcastUnavailable):
                        await next_message(warm)
            # Redis is back: nothing it queued while frozen stayed subscribed...
            await eventually_no_subscribers(url, "room:a", "room:b", "warm")
            # ... and a new subscribe works at once, on a new connection.
            async with broadcast.subscribe("room:a") as subscription:
                assert await subscribers(url, "room:a") == [1]
                await broadcast.publish("room:a", "back")
                assert await next_message(subscription) == "back"


async def test_a_subscribe_to_the_same_channel_queued_behind_a_stuck_one_keeps_its_bound() -> None:
    with redis_process() as (url, process):
        async with Broadcast(url, timeout=BOUND) as broadcast:
            with frozen(process):
                start = asyncio.get_running_loop().time()
                ends = await asyncio.gather(
                    timed_subscribe(broadcast, "same"), timed_subscribe(broadcast, "same")
                )
                assert all(isinstance(error, BroadcastUnavailable) for _, error in ends)
                assert max(end for end, _ in ends) - start <= 1.8 * BOUND
            await eventually_no_subscribers(url, "same")


async def test_publishing_to_a_frozen_redis_is_bounded_then_works_again() -> None:
    with redis_process() as (url, process):
        async with Broadcast(url, publish_timeout=BOUND) as broadcast:
            await broadcast.publish("news", "warm up the pool")
            with frozen(process):
                start = asyncio.get_running_loop().time()
                with pytest.raises(BroadcastUnavailable, match="publish_timeout") as raised:
                    await broadcast.publish("news", "lost")
                assert asyncio.get_running_loop().time() - start <= 3 * BOUND
                assert raised.value.status_code == 503
            async with broadcast.subscribe("news") as subscription:
                await broadcast.publish("news", "delivered")
                assert await next_message(subscription) == "delivered"


async def test_redis_down_refuses_chat_and_feed_with_503() -> None:
    with redis_process() as (url, process):
        settings = Settings(database_url="sqlite:///:memory:", redis_url=url)
        async with AsyncTestClient(build_app(settings)) as client:
            process.terminate()
            process.wait(10)
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect("/chat/lobby?user=alice", timeout=5):
                    pass
            assert denied.value.status_code == 503
            assert denied.value.headers["retry-after"] == str(BroadcastUnavailable.retry_after)
            feed = await client.get("/feed")
            assert feed.status_code == 503
            assert feed.headers["retry-after"] == str(BroadcastUnavailable.retry_after)
            assert feed.json() == {"error": "broadcast unavailable"}  # no Redis address


async def test_after_redis_restarts_the_next_join_works_at_once() -> None:
    with redis_process() as (url, first):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        async with (
            Broadcast(url) as broadcast,
            MemoryPresence() as presence,
            AsyncTestClient(aaf([chat_router(broadcast, presence)])) as client,
        ):
            async with client.websocket_connect("/chat/lobby?user=alice", timeout=5) as ws:
                assert (await ws.receive_json())["type"] == "user_joined"
                first.terminate()
                first.wait(10)
                # The member's subscription ended with the connection: 1013, come back later.
                with pytest.raises(WebSocketDisconnect) as closed:
                    await ws.receive_json()
                assert closed.value.code == 1013
            with pytest.raises(WebSocketDenied) as denied:
                async with client.websocket_connect("/chat/lobby?user=bob", timeout=5):
                    pass
            assert denied.value.status_code == 503
            with redis_process(port):  # Redis is back, on the same address
                async with client.websocket_connect("/chat/lobby?user=carol", timeout=5) as ws:
                    joined = await ws.receive_json()
                    assert (joined["type"], joined["user"]) == ("user_joined", "carol")


async def test_a_redis_restart_while_nobody_listens_costs_no_join() -> None:
    """An idle pub/sub connection would not see Redis go (redis-py reads nothing from it): the
    first subscribe after a restart must not fail on the dead socket."""
    with redis_process() as (url, first):
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        async with Broadcast(url) as broadcast:
            async with broadcast.subscribe("news"):
                pass  # subscribed then left: nobody listens any more
            first.terminate()
            first.wait(10)
            with redis_process(port):  # Redis is back, on the same address
                async with broadcast.subscribe("news") as subscription:
                    await broadcast.publish("news", "after the restart")
                    assert await next_message(subscription) == "after the restart"


async def test_a_task_write_answers_within_the_bound_while_redis_is_frozen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with redis_process() as (url, process):
        settings = Settings(database_url="sqlite:///:memory:", redis_url=url)
        async with AsyncTestClient(build_app(settings)) as client:
            bound = settings.publish_timeout  # what the demo bounds a feed publish by
            await client.post("/tasks", json={"title": "warm up"})
            with frozen(process):
                start = asyncio.get_running_loop().time()
                response = await client.post("/tasks", json={"title": "Buy milk"})
                elapsed = asyncio.get_running_loop().time() - start
            assert response.status_code == 201  # the write is stored whatever the feed does
            assert elapsed <= 3 * bound
            assert "feed event lost: created of task" in caplog.text
