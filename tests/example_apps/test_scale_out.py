"""Scale-out: two server processes share one PostgreSQL and one Redis (both started on
loopback for this test). Whatever process a client talks to, it sees the same tasks, the same
chat rooms and the same live feed."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect

from aaf.sse_resume import EventId, parse_event_id

from ..support.postgres import PostgresServer
from ..support.servers import serve
from ..support.sse_frames import FrameReader

pytestmark = pytest.mark.integration
TARGET = "examples.demo.app:app"


def next_id(event_id: str | None) -> EventId:
    """The id after ``event_id`` in the same epoch."""
    parsed = parse_event_id(event_id or "")
    assert parsed is not None, f"not an event id: {event_id!r}"
    return parsed.next()


@pytest.fixture(scope="module")
def servers(postgres_server: PostgresServer, redis_server_url: str) -> Iterator[tuple[str, str]]:
    """The base URLs of two uvicorn processes serving the demo on the same database and Redis."""
    dsn = postgres_server.create_database("scale_out")
    client = redis.Redis.from_url(redis_server_url)
    try:
        client.flushall()
    finally:
        client.close()
    env = {"DATABASE_URL": dsn, "REDIS_URL": redis_server_url, "CHAT_JWT_SECRET": ""}
    with serve(TARGET, env=env) as one, serve(TARGET, env=env) as two:
        yield one, two


async def test_a_task_created_through_one_process_is_served_by_the_other(
    servers: tuple[str, str],
) -> None:
    a, b = servers
    async with httpx.AsyncClient(timeout=10) as client:
        created = await client.post(f"{a}/tasks", json={"title": "made on A"})
        assert created.status_code == 201
        task = created.json()
        assert task in (await client.get(f"{b}/tasks")).json()["items"]
        assert (await client.get(f"{b}/tasks/{task['id']}")).json() == task
        done = await client.patch(f"{b}/tasks/{task['id']}", json={"done": True})
        assert (await client.get(f"{a}/tasks/{task['id']}")).json() == done.json()


def ws_url(base: str, path: str) -> str:
    return "ws" + base.removeprefix("http") + path


async def receive(socket: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(socket.recv(), 5))


async def test_chat_rooms_span_processes(servers: tuple[str, str]) -> None:
    a, b = servers
    room = f"room-{uuid.uuid4().hex[:8]}"
    async with connect(ws_url(a, f"/chat/{room}?user=alice"), open_timeout=10) as alice:
        joined = {"type": "user_joined", "user": "alice", "room": room, "user_count": 1}
        assert await receive(alice) == joined
        async with connect(ws_url(b, f"/chat/{room}?user=bob"), open_timeout=10) as bob:
            # The count covers both processes.
            joined = {"type": "user_joined", "user": "bob", "room": room, "user_count": 2}
            assert await receive(bob) == joined
            assert await receive(alice) == joined
            await alice.send(json.dumps({"type": "chat", "message": "hello from A"}))
            for member in (bob, alice):
                message = await receive(member)
                assert (message["user"], message["message"]) == ("alice", "hello from A")
            await bob.send(json.dumps({"type": "typing"}))
            await bob.send(json.dumps({"type": "chat", "message": "hello from B"}))
            assert await receive(alice) == {"type": "typing", "user": "bob"}
            assert (await receive(alice))["message"] == "hello from B"
        left = {"type": "user_left", "user": "bob", "room": room, "user_count": 1}
        assert await receive(alice) == left


async def test_the_feed_on_one_process_sees_changes_made_through_the_other(
    servers: tuple[str, str],
) -> None:
    a, b = servers
    async with httpx.AsyncClient(timeout=10) as client:
        async with client.stream("GET", f"{b}/feed") as response:
            reader = FrameReader(response)
            hello = await reader.next()
            assert hello.id is not None
            created = (await client.post(f"{a}/tasks", json={"title": "feed me"})).json()
            frame = await reader.next_event()
            assert (frame.event, frame.json()) == ("created", created)
            assert frame.id == str(next_id(hello.id))  # "<epoch>-<counter>", one epoch for both
        # Away from the feed, a change is made through B; the browser comes back through A
        # with the last id it saw, and gets what it missed.
        task_id = created["id"]
        deleted = (await client.delete(f"{b}/tasks/{task_id}")).json()
        headers = {"last-event-id": frame.id}
        async with client.stream("GET", f"{a}/feed", headers=headers) as response:
            missed = await FrameReader(response).next_event()
            assert (missed.event, missed.id, missed.json()) == (
                "deleted",
                str(next_id(frame.id)),
                deleted,
            )
