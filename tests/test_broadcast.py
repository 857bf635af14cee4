"""Broadcast with the in-memory backend, and chat rooms built on it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aaf import WebSocketDisconnect
from aaf.broadcast import Broadcast, BroadcastError, Subscription
from aaf.testing import AsyncTestClient, TestClient
from tests.support.chat import chat_app


async def next_message(subscription: Subscription) -> str:
    return await asyncio.wait_for(anext(subscription), 1)


async def test_publish_reaches_every_subscriber_of_the_channel_only() -> None:
    async with (
        Broadcast() as broadcast,
        broadcast.subscribe("a") as first,
        broadcast.subscribe("a") as second,
        broadcast.subscribe("b") as other,
    ):
        await broadcast.publish("a", "hello")
        await broadcast.publish("b", "for b")
        assert await next_message(first) == "hello"
        assert await next_message(second) == "hello"
        assert await next_message(other) == "for b"
        await broadcast.publish("nobody-listens", "lost")
        assert repr(first) == "<Subscription 'a' queued=0 dropped=0>"


async def test_messages_keep_their_order_and_later_subscribers_miss_earlier_ones() -> None:
    async with Broadcast("memory://") as broadcast, broadcast.subscribe("c") as early:
        for n in range(5):
            await broadcast.publish("c", str(n))
        async with broadcast.subscribe("c") as late:
            await broadcast.publish("c", "5")
            assert [await next_message(early) for _ in range(6)] == list("012345")
            assert await next_message(late) == "5"


async def test_a_subscriber_waiting_is_woken_by_a_publish() -> None:
    async with Broadcast() as broadcast, broadcast.subscribe("w") as subscription:
        waiting = asyncio.ensure_future(next_message(subscription))
        await asyncio.sleep(0)
        assert not waiting.done()
        await broadcast.publish("w", "wake up")
        assert await waiting == "wake up"


async def test_leaving_the_block_unsubscribes() -> None:
    async with Broadcast() as broadcast:
        async with broadcast.subscribe("x") as subscription:
            pass
        assert broadcast._hub.channels == {}
        await broadcast.publish("x", "after")
        with pytest.raises(StopAsyncIteration):
            await anext(subscription)


async def test_a_slow_subscriber_loses_its_oldest_messages_not_the_publisher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with (
        Broadcast(max_queue=3) as broadcast,
        broadcast.subscribe("busy") as slow,
        broadcast.subscribe("busy") as fast,
    ):
        with caplog.at_level(logging.WARNING, logger="aaf.broadcast"):
            received_fast = []
            for n in range(10):
                await broadcast.publish("busy", str(n))  # never blocks
                received_fast.append(await next_message(fast))
        assert received_fast == [str(n) for n in range(10)]
        assert slow.dropped == 7
        assert [await next_message(slow) for _ in range(3)] == ["7", "8", "9"]
        assert len(slow._queue) == 0
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["subscriber of 'busy' is 3 messages behind; dropping its oldest messages"]


async def test_disconnect_ends_open_subscriptions() -> None:
    broadcast = Broadcast()
    await broadcast.connect()
    await broadcast.connect()  # idempotent
    async with broadcast.subscribe("room") as subscription:
        await broadcast.publish("room", "last words")
        waiting = asyncio.ensure_future(consume(subscription))
        await asyncio.sleep(0)
        await broadcast.disconnect()
        assert await asyncio.wait_for(waiting, 1) == ["last words"]
    await broadcast.disconnect()  # idempotent
    assert not broadcast.connected


async def consume(subscription: Subscription) -> list[str]:
    return [message async for message in subscription]


async def test_use_before_connect_says_how_to_fix_it() -> None:
    broadcast = Broadcast()
    with pytest.raises(BroadcastError, match=r"await broadcast.connect\(\) first"):
        await broadcast.publish("a", "b")
    with pytest.raises(BroadcastError, match="not connected"):
        async with broadcast.subscribe("a"):
            pass


async def test_messages_must_be_strings() -> None:
    async with Broadcast() as broadcast:
        with pytest.raises(TypeError, match="encode data first"):
            await broadcast.publish("a", {"not": "a string"})  # type: ignore[arg-type]


def test_bad_urls_and_queue_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="use memory:// or redis://"):
        Broadcast("kafka://localhost")
    with pytest.raises(ValueError, match="max_queue must be at least 1"):
        Broadcast(max_queue=0)


# ---------------------------------------------------------------------------- chat rooms
def test_two_clients_in_a_room_see_each_other_and_another_room_does_not() -> None:
    with (
        TestClient(chat_app(Broadcast())) as client,
        client.websocket_connect("/chat/red") as alice,
        client.websocket_connect("/chat/red") as bob,
        client.websocket_connect("/chat/blue") as carol,
    ):
        alice.send_text("hi bob")
        assert bob.receive_text() == "hi bob"
        assert alice.receive_text() == "hi bob"  # everyone in the room, the sender too
        bob.send_text("hi alice")
        assert alice.receive_text() == "hi alice"
        assert bob.receive_text() == "hi alice"
        carol.send_text("anyone in blue?")
        assert carol.receive_text() == "anyone in blue?"
        # Nothing from red reached blue, and nothing from blue reached red: the next message
        # each of them gets is the next one of their own room.
        alice.send_text("red again")
        assert bob.receive_text() == "red again"
        assert alice.receive_text() == "red again"
        carol.send_text("blue again")
        assert carol.receive_text() == "blue again"


async def test_a_client_leaving_the_room_does_not_disturb_the_others() -> None:
    broadcast = Broadcast()
    async with AsyncTestClient(chat_app(broadcast)) as client:
        async with client.websocket_connect("/chat/r") as stays:
            async with client.websocket_connect("/chat/r") as leaves:
                await leaves.send_text("bye")
                assert await stays.receive_text() == "bye"
            await stays.send_text("still here")
            assert await stays.receive_text() == "still here"
            with pytest.raises(WebSocketDisconnect):
                await leaves.send_text("too late")
        assert broadcast._hub.channels == {}


async def test_a_task_that_swallows_one_cancellation_is_still_stopped() -> None:
    from aaf.broadcast import _cancel_for_sure

    swallowed: list[bool] = []

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            swallowed.append(True)  # like the lost cancellation in redis-py on Python 3.11
        await asyncio.sleep(3600)

    task = asyncio.ensure_future(stubborn())
    await asyncio.sleep(0)
    await _cancel_for_sure(task, patience=5)
    assert task.cancelled()
    assert swallowed == [True]


async def test_a_task_that_never_stops_is_left_behind_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aaf.broadcast import _cancel_for_sure

    release = asyncio.Event()

    async def immortal() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue

    task = asyncio.ensure_future(immortal())
    await asyncio.sleep(0)
    await _cancel_for_sure(task, patience=0.3)
    assert not task.done()
    assert "did not stop" in caplog.text
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1)
