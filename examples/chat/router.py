"""The chat: a WebSocket per member at ``/chat/<room>``, rooms shared through a Broadcast.

Client -> server (JSON text messages):
    {"type": "chat", "message": "hi"}      broadcast to the room, the sender included
    {"type": "typing"}                     to everyone in the room but the sender

Server -> client:
    {"type": "user_joined", "user": ..., "room": ..., "user_count": n}   to the whole room
    {"type": "user_left",   "user": ..., "room": ..., "user_count": n}   to those who stay
    {"type": "chat", "user": ..., "message": ..., "timestamp": "2024-05-01T12:00:00.000+00:00"}
    {"type": "typing", "user": ...}
    {"error": "Invalid JSON"}              to the sender only (also for other bad messages)

The user is ``?user=`` (cleaned, see ``names.clean_user``), or with JWT configured the ``sub``
of a valid ``?token=`` - without one the handshake is refused with 401 before it is accepted.

``GET /chat/<room>/admission`` with the same query answers what the handshake would: the name
the server uses (``{"room": ..., "user": ...}``), or the refusal (400/401 ``{"error": ...}``).

Every member subscribes to the room's channel (``chat:<room>``) on the Broadcast, so members
connected to different server processes share the room when the Broadcast is Redis.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from aaf import Connection, HTTPError, Limits, Router
from aaf.broadcast import Broadcast, BroadcastError, Subscription
from aaf.limits import KiB
from aaf.websocket import WebSocketDataError, WebSocketDisconnect, WebSocketStateError

from .auth import ChatTokens
from .names import MAX_ROOM_LENGTH, clean_user, valid_room
from .presence import Presence

__all__ = ["MAX_MESSAGE_LENGTH", "chat_router"]

logger = logging.getLogger("examples.chat")

MAX_MESSAGE_LENGTH = 2000
# A frame larger than this closes the socket (1009) before it is read: no chat line needs more.
CHAT_LIMITS = Limits(max_websocket_message=16 * KiB)

INVALID_JSON = {"error": "Invalid JSON"}
NOT_AN_OBJECT = {"error": 'messages are JSON objects such as {"type": "chat", "message": "hi"}'}
UNKNOWN_TYPE = {"error": 'unknown message type; use "chat" or "typing"'}
BAD_MESSAGE = {"error": f"message must be a string of 1 to {MAX_MESSAGE_LENGTH} characters"}

# Broadcast messages are "<member to skip>|<JSON for the clients>": the skipped member is empty
# for events everyone gets. PERF: each receiving connection compares a prefix and forwards the
# JSON text as it is, instead of decoding and re-encoding it per member.
_SEPARATOR = "|"
# Either task may find the socket over: the client left (disconnect), or the other task closed
# it (sending or receiving on a closed socket is a state error).
_SOCKET_OVER = (WebSocketDisconnect, WebSocketStateError)


def _encode(data: dict[str, Any]) -> str:
    return msgspec.json.encode(data).decode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def chat_router(
    broadcast: Broadcast, presence: Presence, *, tokens: ChatTokens | None = None
) -> Router:
    """The ``/chat/<room>`` WebSocket route on ``broadcast`` and ``presence`` (both opened by
    the app's lifespan); with ``tokens``, only holders of a valid ``?token=`` get in."""
    router = Router()

    async def publish(room: str, event: dict[str, Any], *, skip: str = "") -> None:
        await broadcast.publish("chat:" + room, skip + _SEPARATOR + _encode(event))

    async def forward(conn: Connection, subscription: Subscription, member: str) -> None:
        """Room events -> this member's socket, until either side goes away."""
        try:
            async for message in subscription:
                skip, _, payload = message.partition(_SEPARATOR)
                if skip != member:
                    await conn.send_text(payload)
        except _SOCKET_OVER:
            return  # the client left, or the receive loop closed the socket (1009)
        except BroadcastError:
            logger.warning("chat broadcast lost; closing %s", conn.path)
            await conn.close(1013, "chat unavailable, reconnect later")  # try again later
            return
        # The broadcast disconnected: the server is shutting down.
        await conn.close(1001, "server shutting down")

    async def handle(room: str, user: str, member: str, text: str) -> dict[str, Any] | None:
        """Act on one client message; an error to send back to the sender, or None."""
        try:
            data = msgspec.json.decode(text)
        except (msgspec.DecodeError, RecursionError):
            # APPSEC: msgspec raises RecursionError, not DecodeError, for "[[[[..." nested
            # deeper than it allows (a few hundred levels fit in one frame): bad input all
            # the same, so the sender gets the usual answer instead of a 1011 and a traceback.
            return INVALID_JSON
        if not isinstance(data, dict):
            return NOT_AN_OBJECT
        kind = data.get("type")
        if kind == "chat":
            message = data.get("message")
            if not isinstance(message, str) or not message.strip():
                return BAD_MESSAGE
            if len(message) > MAX_MESSAGE_LENGTH:
                return BAD_MESSAGE
            event = {"type": "chat", "user": user, "message": message, "timestamp": _now()}
            await publish(room, event)
        elif kind == "typing":
            await publish(room, {"type": "typing", "user": user}, skip=member)
        else:
            return UNKNOWN_TYPE
        return None

    def admit(conn: Connection, room: str) -> str:
        """The user name ``conn`` joins ``room`` as; an HTTPError saying why it may not."""
        if not valid_room(room):
            raise HTTPError(400, f"room names are 1 to {MAX_ROOM_LENGTH} visible characters")
        if tokens is None:
            return clean_user(conn.query.get("user"))
        verified = tokens.user_for(conn.query.get("token"))
        if verified is None:
            raise HTTPError(401, "a valid ?token= is required to join the chat")
        return verified

    @router.get("/chat/<room>/admission", name="chat_admission")
    async def admission(conn: Connection, room: str) -> dict[str, str]:
        # Browsers hide why a WebSocket handshake was refused (the page sees only close 1006),
        # and the name the server uses: the page asks here, with the same query, first.
        return {"room": room, "user": admit(conn, room)}

    @router.websocket("/chat/<room>", name="chat", limits=CHAT_LIMITS)
    async def chat(conn: Connection, room: str) -> None:
        # Everything that can refuse the connection happens before accept().
        user = admit(conn, room)
        member = uuid.uuid4().hex
        # Subscribed before accepting: the member sees its own user_joined and everything after.
        async with broadcast.subscribe("chat:" + room) as subscription:
            await conn.accept()
            forwarding = asyncio.ensure_future(forward(conn, subscription, member))
            try:
                count = await presence.join(room, member)
                await publish(
                    room, {"type": "user_joined", "user": user, "room": room, "user_count": count}
                )
                await receive_loop(conn, room, user, member)
            finally:
                forwarding.cancel()
                await asyncio.wait({forwarding})
                await say_goodbye(room, user, member)

    async def receive_loop(conn: Connection, room: str, user: str, member: str) -> None:
        try:
            while True:
                try:
                    text = await conn.receive_text()
                except WebSocketDataError:
                    await conn.send_json({"error": "messages are JSON text, not binary"})
                    continue
                error = await handle(room, user, member, text)
                if error is not None:
                    await conn.send_json(error)
        except _SOCKET_OVER:
            return  # the client left, or the forwarder closed the socket

    async def say_goodbye(room: str, user: str, member: str) -> None:
        # The member is gone whatever happens next: a failing backend is logged, not raised
        # (the connection is over, there is nobody left to tell).
        try:
            count = await presence.leave(room, member)
            event = {"type": "user_left", "user": user, "room": room, "user_count": count}
            await publish(room, event)
        except Exception:
            logger.warning("could not announce that %r left %r", user, room, exc_info=True)

    return router
