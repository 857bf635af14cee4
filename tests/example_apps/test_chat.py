"""examples/chat in the demo app: the room protocol, names, JWT sign-in, presence counts and
fan-out, on the in-memory backend and on Redis (every test using ``events_url`` runs on both)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from examples.chat import (
    ChatTokens,
    MemoryPresence,
    RedisPresence,
    chat_router,
    clean_user,
    valid_room,
)
from examples.chat.names import MAX_ROOM_LENGTH, MAX_USER_LENGTH
from examples.chat.router import MAX_MESSAGE_LENGTH
from examples.demo.app import build_app
from examples.tasks import Settings

from aaf import App, WebSocketDisconnect, aaf
from aaf.broadcast import Broadcast
from aaf.testing import AsyncTestClient, AsyncWebSocketSession, WebSocketDenied

from ..support.redis import redis_server

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def demo(events_url: str | None, chat_secret: str | None = None) -> App:
    settings = Settings(database_url="sqlite:///:memory:", redis_url=events_url)
    return build_app(settings, chat_secret=chat_secret)


@pytest.fixture
async def client(events_url: str | None) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(demo(events_url)) as client:
        yield client


async def join(
    stack: AsyncExitStack, client: AsyncTestClient, room: str, user: str
) -> AsyncWebSocketSession:
    """A member of ``room``, its own user_joined already read."""
    ws = await stack.enter_async_context(
        client.websocket_connect(f"/chat/{room}?user={user}", timeout=5)
    )
    joined = await ws.receive_json()
    assert (joined["type"], joined["user"]) == ("user_joined", user)
    return ws


def event(kind: str, user: str, room: str, count: int) -> dict[str, Any]:
    return {"type": kind, "user": user, "room": room, "user_count": count}


# ------------------------------------------------------------------------------ the protocol
async def test_everyone_in_the_room_hears_who_joins_and_leaves(client: AsyncTestClient) -> None:
    async with AsyncExitStack() as stack:
        alice = await stack.enter_async_context(
            client.websocket_connect("/chat/lobby?user=alice", timeout=5)
        )
        assert await alice.receive_json() == event("user_joined", "alice", "lobby", 1)
        async with client.websocket_connect("/chat/lobby?user=bob", timeout=5) as bob:
            assert await bob.receive_json() == event("user_joined", "bob", "lobby", 2)
            assert await alice.receive_json() == event("user_joined", "bob", "lobby", 2)
        assert await alice.receive_json() == event("user_left", "bob", "lobby", 1)
        # A new member counts from what is left.
        carol = await join(stack, client, "lobby", "carol")
        assert await alice.receive_json() == event("user_joined", "carol", "lobby", 2)
        await carol.close()
        assert await alice.receive_json() == event("user_left", "carol", "lobby", 1)


async def test_a_chat_message_reaches_the_whole_room_with_user_and_timestamp(
    client: AsyncTestClient,
) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        bob = await join(stack, client, "lobby", "bob")
        await alice.receive_json()  # bob joined
        before = datetime.now().astimezone()
        await alice.send_json({"type": "chat", "message": "hello <b>room</b> ✓"})
        for member in (alice, bob):  # the sender gets it too: one ordering for everyone
            message = await member.receive_json()
            assert set(message) == {"type", "user", "message", "timestamp"}
            assert (message["type"], message["user"], message["message"]) == (
                "chat",
                "alice",
                "hello <b>room</b> ✓",
            )
            stamp = datetime.fromisoformat(message["timestamp"])
            assert stamp.utcoffset() == timedelta(0)
            assert before - timedelta(seconds=1) <= stamp <= datetime.now().astimezone()


async def test_rooms_are_separate(client: AsyncTestClient) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        carol = await join(stack, client, "kitchen", "carol")  # count 1: her own room
        await alice.send_json({"type": "chat", "message": "lobby only"})
        assert (await alice.receive_json())["message"] == "lobby only"
        await carol.send_json({"type": "chat", "message": "kitchen only"})
        # Carol's next message is her own room's: the lobby's never reached her.
        assert (await carol.receive_json())["message"] == "kitchen only"


async def test_typing_goes_to_everyone_but_the_sender(client: AsyncTestClient) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        bob = await join(stack, client, "lobby", "bob")
        carol = await join(stack, client, "lobby", "carol")
        await alice.receive_json()  # bob joined
        await alice.receive_json()  # carol joined
        await bob.receive_json()  # carol joined
        await bob.send_json({"type": "typing"})
        await bob.send_json({"type": "chat", "message": "done typing"})
        for other in (alice, carol):
            assert await other.receive_json() == {"type": "typing", "user": "bob"}
            assert (await other.receive_json())["message"] == "done typing"
        assert (await bob.receive_json())["message"] == "done typing"  # no typing echo


async def test_invalid_json_is_answered_to_the_sender_only(client: AsyncTestClient) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        bob = await join(stack, client, "lobby", "bob")
        await alice.receive_json()  # bob joined
        await bob.send_text("{not json")
        answer = await bob.receive_json()
        assert set(answer) == {"error"}
        assert answer["error"].startswith("invalid JSON: ")
        await alice.send_json({"type": "chat", "message": "still here"})
        assert (await alice.receive_json())["message"] == "still here"
        assert (await bob.receive_json())["message"] == "still here"  # the socket stayed open


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ("[" * 1000 + "]" * 1000, "$: Expected `object`, got `array`"),
        ('{"type": "chat", "message": ' + "[" * 1000 + "]" * 1000 + "}", "$.message: Expected"),
        ('{"type": "chat", "message": "hi", "x": ' + "[" * 1000 + "]" * 1000 + "}", "invalid"),
    ],
    ids=["nested-array", "nested-message", "nested-unknown-field"],
)
async def test_deeply_nested_json_is_invalid_json_not_a_crash(
    client: AsyncTestClient, sent: str, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        await alice.send_text(sent)
        answer = await alice.receive_json()
        assert set(answer) == {"error"}
        assert answer["error"].startswith(error)
        await alice.send_json({"type": "chat", "message": "still here"})
        assert (await alice.receive_json())["message"] == "still here"  # the socket stayed open
    assert not [record for record in caplog.records if record.exc_info]  # no traceback logged


@pytest.mark.parametrize(
    ("sent", "error"),
    [
        ("[1, 2]", "$: Expected `object`, got `array`"),
        ('"chat"', "$: Expected `object`, got `str`"),
        ('{"type": "shout", "message": "hi"}', "$.type: Invalid value 'shout'"),
        ("{}", "$: Object missing required field `type`"),
        ('{"type": "chat"}', "$: Object missing required field `message`"),
        ('{"type": "chat", "message": 42}', "$.message: Expected `str`, got `int`"),
        ('{"type": "chat", "message": ""}', "$.message: Expected `str` of length >= 1"),
        ('{"type": "chat", "message": " \\t "}', "$.message: Expected `str` matching regex"),
        (
            '{"type": "chat", "message": "' + "x" * (MAX_MESSAGE_LENGTH + 1) + '"}',
            f"$.message: Expected `str` of length <= {MAX_MESSAGE_LENGTH}",
        ),
    ],
)
async def test_other_bad_messages_get_an_error_naming_the_field(
    client: AsyncTestClient, sent: str, error: str
) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        await alice.send_text(sent)
        answer = await alice.receive_json()
        assert set(answer) == {"error"}
        assert answer["error"].startswith(error)
        await alice.send_json({"type": "chat", "message": "x" * MAX_MESSAGE_LENGTH})
        assert (await alice.receive_json())["message"] == "x" * MAX_MESSAGE_LENGTH


async def test_binary_frames_are_json_too_and_huge_frames_close_the_socket(
    client: AsyncTestClient,
) -> None:
    async with AsyncExitStack() as stack:
        alice = await join(stack, client, "lobby", "alice")
        bob = await join(stack, client, "lobby", "bob")
        await alice.receive_json()  # bob joined
        # Typed messages are JSON in a text or a binary frame (conn.receive_as()).
        await bob.send_bytes(b'{"type": "chat", "message": "hi"}')
        for member in (alice, bob):
            assert (await member.receive_json())["message"] == "hi"
        await bob.send_bytes(b'{"type": "chat", "message": "\xff"}')
        assert (await bob.receive_json())["error"].startswith("invalid JSON: ")
        await bob.send_text("x" * 20_000)  # over the chat route's 16 KiB frame limit
        with pytest.raises(WebSocketDisconnect) as closed:
            await bob.receive_json()
        assert closed.value.code == 1009
        assert await alice.receive_json() == event("user_left", "bob", "lobby", 1)


# ------------------------------------------------------------------------------ names
@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (None, "anonymous"),
        ("", "anonymous"),
        ("   ", "anonymous"),
        ("Ada Lovelace", "Ada Lovelace"),
        ("  Ada \t\n  Lovelace ", "Ada Lovelace"),
        ("ad\x00min\x1b[31m", "admin[31m"),
        ("\u202eevil\u200b", "evil"),  # bidi override and zero-width space
        ("\u200d\u2066", "anonymous"),
        ("ü" * 100, "ü" * MAX_USER_LENGTH),
        ("a" * 39 + " b", "a" * 39),  # cut at the limit, no trailing space
        ("x" * 10_000, "x" * MAX_USER_LENGTH),
    ],
)
def test_user_names_are_cleaned_and_bounded(raw: str | None, shown: str) -> None:
    assert clean_user(raw) == shown


async def test_the_room_sees_the_cleaned_name(client: AsyncTestClient) -> None:
    async with client.websocket_connect("/chat/lobby?user=%E2%80%AEroot%00%0A", timeout=5) as ws:
        assert (await ws.receive_json())["user"] == "root"
    async with client.websocket_connect("/chat/lobby", timeout=5) as ws:
        assert (await ws.receive_json())["user"] == "anonymous"


@pytest.mark.parametrize(
    ("room", "valid"),
    [
        ("lobby", True),
        ("Salle à manger", True),
        ("x" * MAX_ROOM_LENGTH, True),
        ("x" * (MAX_ROOM_LENGTH + 1), False),
        (" lobby", False),
        ("lob\u200bby", False),
        ("", False),
    ],
)
def test_room_names(room: str, valid: bool) -> None:
    assert valid_room(room) is valid


async def test_a_bad_room_name_is_refused_before_accepting(client: AsyncTestClient) -> None:
    with pytest.raises(WebSocketDenied) as denied:
        async with client.websocket_connect("/chat/" + "x" * 65, timeout=5):
            pass
    assert denied.value.status_code == 400
    assert denied.value.json() == {"error": "room names are 1 to 64 visible characters"}


# ------------------------------------------------------------------------------ JWT sign-in
def token(claims: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture
async def signed_in_client(events_url: str | None) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(demo(events_url, chat_secret=SECRET)) as client:
        yield client


@pytest.mark.parametrize(
    "query",
    [
        "?user=alice",  # no token at all
        "?user=alice&token=",
        "?token=not.a.jwt",
        "?token=" + token({"sub": "alice", "exp": int(time.time()) + 600}, "another-secret" * 3),
        "?token=" + token({"sub": "alice", "exp": int(time.time()) - 60}),  # expired
        "?token=" + token({"sub": "alice"}),  # no expiry
        "?token=" + token({"exp": int(time.time()) + 600}),  # no subject
        "?token=" + token({"sub": 42, "exp": int(time.time()) + 600}),
    ],
)
async def test_with_a_secret_no_valid_token_no_entry(
    signed_in_client: AsyncTestClient, query: str
) -> None:
    with pytest.raises(WebSocketDenied) as denied:
        async with signed_in_client.websocket_connect("/chat/lobby" + query, timeout=5):
            pass
    assert denied.value.status_code == 401
    assert denied.value.json() == {"error": "a valid ?token= is required to join the chat"}


async def test_with_a_secret_the_token_names_the_user(signed_in_client: AsyncTestClient) -> None:
    issued = ChatTokens(SECRET).issue("Grace\u202e Hopper")
    url = f"/chat/lobby?user=somebody-else&token={issued}"
    async with signed_in_client.websocket_connect(url, timeout=5) as ws:
        # ?user= is ignored; the token's subject is shown, cleaned like any name.
        assert await ws.receive_json() == event("user_joined", "Grace Hopper", "lobby", 1)


def test_chat_secrets_must_be_long_and_stay_hidden() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        ChatTokens("short")
    assert SECRET not in repr(ChatTokens(SECRET))


# ------------------------------------------------------------------------------ fan-out
async def test_on_redis_members_of_different_processes_share_the_room(redis_url: str) -> None:
    # Two apps with their own broadcast and presence objects stand for two server processes.
    async with (
        AsyncTestClient(demo(redis_url)) as one,
        AsyncTestClient(demo(redis_url)) as two,
        AsyncExitStack() as stack,
    ):
        alice = await join(stack, one, "lobby", "alice")
        bob = await stack.enter_async_context(
            two.websocket_connect("/chat/lobby?user=bob", timeout=5)
        )
        assert await bob.receive_json() == event("user_joined", "bob", "lobby", 2)
        assert await alice.receive_json() == event("user_joined", "bob", "lobby", 2)
        await bob.send_json({"type": "typing"})
        await bob.send_json({"type": "chat", "message": "from two"})
        assert await alice.receive_json() == {"type": "typing", "user": "bob"}
        assert (await alice.receive_json())["message"] == "from two"
        assert (await bob.receive_json())["message"] == "from two"
        await alice.close()
        assert await bob.receive_json() == event("user_left", "alice", "lobby", 1)


async def test_the_room_closes_its_sockets_when_the_broadcast_shuts_down() -> None:
    broadcast = Broadcast("memory://")
    app = aaf([chat_router(broadcast, MemoryPresence())])
    async with (
        broadcast,
        AsyncTestClient(app) as client,
        client.websocket_connect("/chat/lobby?user=alice", timeout=5) as alice,
    ):
        await alice.receive_json()
        await broadcast.disconnect()
        with pytest.raises(WebSocketDisconnect) as closed:
            await alice.receive_json()
        assert closed.value.code == 1001


async def test_losing_redis_closes_the_room_with_1013_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with redis_server() as url:
        broadcast = Broadcast(url)
        presence = RedisPresence(url)
        await broadcast.connect()
        await presence.open()
        client = AsyncTestClient(aaf([chat_router(broadcast, presence)]))
        alice = client.websocket_connect("/chat/lobby?user=alice", timeout=5)
        await alice.__aenter__()
        assert (await alice.receive_json())["user_count"] == 1
    # The with block stopped redis-server: the member is told to come back later.
    try:
        with pytest.raises(WebSocketDisconnect) as closed:
            await alice.receive_json()
        assert closed.value.code == 1013
    finally:
        await alice.close()
        await presence.close()
        await broadcast.disconnect()
    assert "could not announce that 'alice' left 'lobby'" in caplog.text
