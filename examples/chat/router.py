"""The chat: a WebSocket per member at ``/chat/<room>``, rooms shared through a Broadcast.

The messages are types (``messages``): the route declares ``receives=ChatIn`` and
``sends=ChatOut``, reads with ``conn.receive_as()`` and answers with ``conn.send_as()``, and the
AsyncAPI document describes the same types.

Client -> server (JSON messages, ``ChatIn``):
    {"type": "chat", "message": "hi"}      broadcast to the room, the sender included
    {"type": "typing"}                     to everyone in the room but the sender

Server -> client (``ChatOut``):
    {"type": "user_joined", "user": ..., "room": ..., "user_count": n}   to the whole room
    {"type": "user_left",   "user": ..., "room": ..., "user_count": n}   to those who stay
    {"type": "chat", "user": ..., "message": ..., "timestamp": "2024-05-01T12:00:00.000+00:00"}
    {"type": "typing", "user": ...}
    {"error": "$.message: Expected `str` of length <= 2000"}   to the sender only, for a
                                           message that does not decode (the field named)

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

import msgspec

from aaf import Connection, HTTPError, Limits, Query, Router
from aaf.broadcast import Broadcast, BroadcastError, Subscription
from aaf.limits import KiB
from aaf.websocket import WebSocketDataError, WebSocketDisconnect, WebSocketStateError

from .auth import ChatTokens
from .messages import (
    MAX_MESSAGE_LENGTH,
    Admission,
    ChatError,
    ChatIn,
    ChatLine,
    ChatOut,
    Refusal,
    Say,
    TypingNotice,
    UserJoined,
    UserLeft,
)
from .names import MAX_ROOM_LENGTH, clean_user, valid_room
from .presence import Presence

__all__ = ["MAX_MESSAGE_LENGTH", "chat_router"]

logger = logging.getLogger("examples.chat")

# A frame larger than this closes the socket (1009) before it is read: no chat line needs more.
CHAT_LIMITS = Limits(max_websocket_message=16 * KiB)

# Broadcast messages are "<member to skip>|<JSON for the clients>": the skipped member is empty
# for events everyone gets. PERF: an event is encoded once, by its publisher; each receiving
# connection compares a prefix and forwards the JSON text as it is, instead of decoding and
# re-encoding it per member.
_SEPARATOR = "|"
# Either task may find the socket over: the client left (disconnect), or the other task closed
# it (sending or receiving on a closed socket is a state error).
_SOCKET_OVER = (WebSocketDisconnect, WebSocketStateError)
_ENCODER = msgspec.json.Encoder()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def chat_router(
    broadcast: Broadcast, presence: Presence, *, tokens: ChatTokens | None = None
) -> Router:
    """The ``/chat/<room>`` WebSocket route on ``broadcast`` and ``presence`` (both opened by
    the app's lifespan); with ``tokens``, only holders of a valid ``?token=`` get in."""
    router = Router(tags=["chat"])

    async def publish(room: str, event: ChatOut, *, skip: str = "") -> None:
        payload = _ENCODER.encode(event).decode()
        await broadcast.publish("chat:" + room, skip + _SEPARATOR + payload)

    async def forward(conn: Connection, subscription: Subscription, member: str) -> None:
        """Room events -> this member's socket, until either side goes away."""
        try:
            async for message in subscription:
                skip, _, payload = message.partition(_SEPARATOR)
                if skip != member:
                    await conn.send_text(payload)  # already a ChatOut, encoded by publish()
        except _SOCKET_OVER:
            return  # the client left, or the receive loop closed the socket (1009)
        except BroadcastError:
            logger.warning("chat broadcast lost; closing %s", conn.path)
            await conn.close(1013, "chat unavailable, reconnect later")  # try again later
            return
        # The broadcast disconnected: the server is shutting down.
        await conn.close(1001, "server shutting down")

    def admit(room: str, user: str | None, token: str | None) -> str:
        """The user name ``room`` is joined as; an HTTPError saying why it may not be."""
        if not valid_room(room):
            raise HTTPError(400, f"room names are 1 to {MAX_ROOM_LENGTH} visible characters")
        if tokens is None:
            return clean_user(user)
        verified = tokens.user_for(token)
        if verified is None:
            raise HTTPError(401, "a valid ?token= is required to join the chat")
        return verified

    @router.get(
        "/chat/<room>/admission", name="chat_admission", responses={400: Refusal, 401: Refusal}
    )
    async def admission(
        room: str, user: Query[str | None] = None, token: Query[str | None] = None
    ) -> Admission:
        """What joining the room's chat with this query would do.

        The name the WebSocket handshake would give the member, or why it would be refused.
        """
        # Browsers hide why a WebSocket handshake was refused (the page sees only close 1006),
        # and the name the server uses: the page asks here, with the same query, first.
        return Admission(room, admit(room, user, token))

    @router.websocket(
        "/chat/<room>", name="chat", limits=CHAT_LIMITS, receives=ChatIn, sends=ChatOut
    )
    async def chat(
        conn: Connection, room: str, user: Query[str | None] = None, token: Query[str | None] = None
    ) -> None:
        """Talk in a room.

        Members of a room hear who joins and leaves, every line said and who is typing.
        `?user=` names the member; when the server requires sign-in, `?token=` (a JWT whose
        `sub` is the name) does, and without a valid one the handshake is refused with 401.
        """
        # Everything that can refuse the connection happens before accept().
        name = admit(room, user, token)
        member = uuid.uuid4().hex
        # Subscribed before accepting: the member sees its own user_joined and everything after.
        async with broadcast.subscribe("chat:" + room) as subscription:
            await conn.accept()
            forwarding = asyncio.ensure_future(forward(conn, subscription, member))
            try:
                count = await presence.join(room, member)
                await publish(room, UserJoined(name, room, count))
                await receive_loop(conn, room, name, member)
            finally:
                forwarding.cancel()
                await asyncio.wait({forwarding})
                await say_goodbye(room, name, member)

    async def receive_loop(conn: Connection, room: str, user: str, member: str) -> None:
        # receive_as() in a loop rather than iter_as(): iter_as() ends at the first message
        # that does not decode (a generator cannot go on after raising), and the chat answers
        # that one and keeps listening.
        try:
            while True:
                try:
                    message: ChatIn = await conn.receive_as()  # the route's receives=ChatIn
                except WebSocketDataError as exc:
                    # The decoder's reason names the field ("$.message: ..."); msgspec also
                    # bounds nesting ("[[[[..." is invalid JSON here, not a RecursionError).
                    await conn.send_as(ChatError(str(exc)))
                    continue
                if isinstance(message, Say):
                    await publish(room, ChatLine(user, message.message, _now()))
                else:
                    await publish(room, TypingNotice(user), skip=member)
        except _SOCKET_OVER:
            return  # the client left, or the forwarder closed the socket

    async def say_goodbye(room: str, user: str, member: str) -> None:
        # The member is gone whatever happens next: a failing backend is logged, not raised
        # (the connection is over, there is nobody left to tell).
        try:
            count = await presence.leave(room, member)
            await publish(room, UserLeft(user, room, count))
        except Exception:
            logger.warning("could not announce that %r left %r", user, room, exc_info=True)

    return router
