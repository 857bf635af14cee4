"""The chat's messages as types: what a client sends (:data:`ChatIn`) and what the server sends
(:data:`ChatOut`), and the answers of the admission check (:class:`Admission`,
:class:`Refusal`). The router decodes and encodes with them, and the API documents describe the
same types, so the protocol is written down once (the class docstrings are the
messages' descriptions there, read as Markdown).

Every message is a JSON object; all but the error carry their kind in ``"type"``.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import msgspec

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "Admission",
    "ChatError",
    "ChatIn",
    "ChatLine",
    "ChatOut",
    "Refusal",
    "Say",
    "Typing",
    "TypingNotice",
    "UserJoined",
    "UserLeft",
]

MAX_MESSAGE_LENGTH = 2000

# A line must show something: 1 to MAX_MESSAGE_LENGTH characters, one of them not whitespace
# (msgspec's pattern is a search, so "\S" means "somewhere").
Line: TypeAlias = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_LENGTH, pattern=r"\S")
]


class _Message(msgspec.Struct, tag_field="type"):
    """The base of the tagged messages: `"type"` names the kind."""


# ------------------------------------------------------------------ client -> server
class Say(_Message, tag="chat"):
    """A line to the room; everyone in it (the sender included) gets it as a `ChatLine`."""

    message: Line


class Typing(_Message, tag="typing"):
    """The member is typing; everyone else in the room gets a `TypingNotice`."""


ChatIn: TypeAlias = Say | Typing


# ------------------------------------------------------------------ server -> client
class UserJoined(_Message, tag="user_joined"):
    """A member joined the room (to the whole room, the new member included)."""

    user: str
    room: str
    user_count: int


class UserLeft(_Message, tag="user_left"):
    """A member left the room (to those who stay)."""

    user: str
    room: str
    user_count: int


class ChatLine(_Message, tag="chat"):
    """A line said in the room."""

    user: str
    message: str
    timestamp: Annotated[
        str,
        msgspec.Meta(description="UTC, ISO 8601 with milliseconds: 2024-05-01T12:00:00.000+00:00"),
    ]


class TypingNotice(_Message, tag="typing"):
    """Another member is typing."""

    user: str


class ChatError(msgspec.Struct):
    """To the sender only: its last message was not understood (the connection stays open).
    `error` names the field at fault: "$.message: Expected `str` of length <= 2000"."""

    error: str


ChatOut: TypeAlias = UserJoined | UserLeft | ChatLine | TypingNotice | ChatError


# ------------------------------------------------------------------ GET /chat/<room>/admission
class Admission(msgspec.Struct):
    """The member would join `room` as `user` (the name as cleaned, or a token's subject)."""

    room: str
    user: str


class Refusal(msgspec.Struct):
    """Why the handshake would be refused: a room name that is not valid (400), no valid token
    when the server requires one (401)."""

    error: str
