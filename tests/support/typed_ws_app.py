"""A chat with typed WebSocket messages and its AsyncAPI document: channels with parameters,
several message types, an untyped route, a hidden one (served by uvicorn in the tests too)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from aaf import Connection, Header, Limits, Query, Router, aaf
from aaf.asyncapi import asyncapi_router


class ChatIn(msgspec.Struct, tag="say"):
    """A line a member says in the room."""

    text: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class Typing(msgspec.Struct, tag="typing"):
    """The member started or stopped typing."""

    active: bool


class ChatOut(msgspec.Struct):
    """A line said in the room, as every member receives it."""

    room: str
    author: str
    text: str


class Presence(msgspec.Struct):
    """Who is in the room now."""

    room: str
    members: list[str]
    kind: Literal["presence"] = "presence"


router = Router()


@router.websocket("/chat/<room>/<int:seat>", receives=ChatIn | Typing, sends=ChatOut | Presence)
async def chat(conn: Connection, room: str, seat: int) -> None:
    """Talk in a room.

    Say lines and typing notices; receive everyone's lines and the member list.
    """
    await conn.accept()
    await conn.send_as(Presence(room, [f"seat-{seat}"]))
    async for message in conn.iter_as():
        if isinstance(message, ChatIn):
            await conn.send_as(ChatOut(room, f"seat-{seat}", message.text))


@router.websocket("/echo", receives=ChatIn, sends=ChatOut, limits=Limits(max_websocket_message=64))
async def echo(conn: Connection) -> None:
    """Echo typed lines back (messages of at most 64 bytes)."""
    await conn.accept()
    async for message in conn.iter_as(ChatIn):
        await conn.send_as(ChatOut("echo", "server", message.text))


@router.websocket("/wrong-type", sends=ChatOut)
async def wrong_type(conn: Connection) -> None:
    await conn.accept()
    await conn.send_as(Presence("x", []))


@router.websocket("/untyped")
async def untyped(conn: Connection) -> None:
    await conn.accept()
    async for message in conn.iter_as():
        await conn.send_json(message)


@router.websocket("/lobby", receives=ChatIn, sends=ChatOut)
async def lobby(
    conn: Connection,
    user: Query[Annotated[str, msgspec.Meta(min_length=1)]],
    token: Query[str | None] = None,
    client: Header[str | None] = None,
) -> None:
    """Join the lobby as ``?user=`` (typed handshake parameters: the channel's ws binding)."""
    await conn.accept()
    await conn.send_as(ChatOut("lobby", "server", f"welcome {user}"))


@router.websocket("/hidden", include_in_schema=False, receives=ChatIn)
async def hidden(conn: Connection) -> None:
    await conn.accept()


app = aaf([router, asyncapi_router(title="Chat", version="1.2.0", description="Rooms to talk in.")])
