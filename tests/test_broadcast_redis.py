"""Broadcast through a real redis-server (started on loopback for these tests)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest
import redis.asyncio as redis

from aaf.broadcast import Broadcast, BroadcastError, BroadcastUnavailable, Subscription
from aaf.testing import TestClient
from tests.support.chat import chat_app
from tests.support.redis import redis_server
from tests.support.servers import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


async def next_message(subscription: Subscription) -> str:
    return await asyncio.wait_for(anext(subscription), 2)


async def subscribers(url: str, channel: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        [(_, count)] = await client.pubsub_numsub(channel)
        return int(count)
    finally:
        await client.aclose()


async def test_two_broadcasts_on_one_redis_see_each_others_messages(redis_url: str) -> None:
    async with (
        Broadcast(redis_url) as one,
        Broadcast(redis_url) as two,
        one.subscribe("room") as on_one,
        two.subscribe("room") as on_two,
        two.subscribe("elsewhere") as elsewhere,
    ):
        await one.publish("room", "from one")
        assert await next_message(on_one) == "from one"
        assert await next_message(on_two) == "from one"
        await two.publish("room", "from two ✓")
        assert await next_message(on_one) == "from two ✓"
        assert await next_message(on_two) == "from two ✓"
        await one.publish("elsewhere", "other channel")
        assert await next_message(elsewhere) == "other channel"
        assert len(on_two._queue) == 0  # nothing from "elsewhere" reached "room"


async def test_one_redis_subscription_per_channel_and_process(redis_url: str) -> None:
    async with Broadcast(redis_url) as broadcast:
        async with broadcast.subscribe("shared") as a, broadcast.subscribe("shared") as b:
            assert await subscribers(redis_url, "shared") == 1
            await broadcast.publish("shared", "fan out locally")
            assert await next_message(a) == await next_message(b) == "fan out locally"
        # The last local subscriber left: the process unsubscribed from Redis.
        for _ in range(100):
            if await subscribers(redis_url, "shared") == 0:
                break
            await asyncio.sleep(0.01)
        assert await subscribers(redis_url, "shared") == 0
        async with broadcast.subscribe("shared") as again:  # and can subscribe again
            await broadcast.publish("shared", "back")
            assert await next_message(again) == "back"


async def test_messages_from_other_redis_clients_arrive_as_text(redis_url: str) -> None:
    async with Broadcast(redis_url) as broadcast, broadcast.subscribe("raw") as subscription:
        client = redis.Redis.from_url(redis_url)
        try:
            await client.publish("raw", b"caf\xc3\xa9 \xff")
        finally:
            await client.aclose()
        assert await next_message(subscription) == "café \ufffd"


def test_two_app_instances_sharing_one_redis_form_one_chat(redis_url: str) -> None:
    with (
        TestClient(chat_app(Broadcast(redis_url))) as first_app,
        TestClient(chat_app(Broadcast(redis_url))) as second_app,
        first_app.websocket_connect("/chat/lobby") as alice,
        second_app.websocket_connect("/chat/lobby") as bob,
        second_app.websocket_connect("/chat/kitchen") as carol,
    ):
        alice.send_text("hello from app one")
        assert bob.receive_text() == "hello from app one"
        assert alice.receive_text() == "hello from app one"
        bob.send_text("hello from app two")
        assert alice.receive_text() == "hello from app two"
        assert bob.receive_text() == "hello from app two"
        carol.send_text("kitchen only")
        assert carol.receive_text() == "kitchen only"
        alice.send_text("lobby again")
        assert bob.receive_text() == "lobby again"  # not "kitchen only"


async def test_connect_and_disconnect_without_subscribing(redis_url: str) -> None:
    broadcast = Broadcast(redis_url)
    await broadcast.connect()
    await broadcast.publish("nobody", "listens")
    await broadcast.disconnect()
    assert not broadcast.connected


async def test_losing_redis_ends_subscriptions_with_an_error() -> None:
    with redis_server() as url:
        broadcast = Broadcast(url)
        await broadcast.connect()
        try:
            async with broadcast.subscribe("doomed") as subscription:
                # A subscription still waiting for its confirmation fails too.
                pending = asyncio.get_running_loop().create_future()
                broadcast._backend._confirmations["next"] = [pending]  # type: ignore[attr-defined]
                admin = redis.Redis.from_url(url)
                try:
                    await admin.client_kill_filter(_type="pubsub")
                finally:
                    await admin.aclose()
                with pytest.raises(BroadcastError, match="lost the Redis pub/sub connection"):
                    await next_message(subscription)
                with pytest.raises(BroadcastError, match="lost the Redis pub/sub connection"):
                    await pending
            # Later subscriptions work again: redis-py reconnects, and reading restarts.
            async with broadcast.subscribe("room") as again:
                await broadcast.publish("room", "back")
                assert await next_message(again) == "back"
        finally:
            await broadcast.disconnect()


async def test_unreachable_redis_fails_at_connect() -> None:
    broadcast = Broadcast(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BroadcastError, match=r"cannot reach Redis at redis://127\.0\.0\.1"):
        await broadcast.connect()
    assert not broadcast.connected


async def test_a_subscription_redis_never_confirms_times_out(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Broadcast(redis_url, timeout=0.05) as broadcast:
        backend = broadcast._backend
        confirmations = backend._confirmations  # type: ignore[attr-defined]

        class Forgetful(dict[str, list[asyncio.Future[None]]]):
            def pop(self, key: str, default: object = None) -> list[asyncio.Future[None]]:
                return []  # the reader never finds the waiter: no confirmation

        monkeypatch.setattr(backend, "_confirmations", Forgetful(confirmations))
        with pytest.raises(BroadcastUnavailable, match="did not confirm the subscription"):
            async with broadcast.subscribe("unconfirmed"):
                pass
        monkeypatch.undo()
        # The failed subscription was undone, and the next one works.
        assert await subscribers(redis_url, "unconfirmed") == 0
        async with broadcast.subscribe("unconfirmed") as subscription:
            await broadcast.publish("unconfirmed", "now")
            assert await next_message(subscription) == "now"


async def test_without_redis_py_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(BroadcastError, match=r"pip install redis"):
        await Broadcast("redis://127.0.0.1:1/0").connect()
