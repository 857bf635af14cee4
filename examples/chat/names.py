"""User and room names from untrusted input: what the chat shows and keys its rooms by."""

from __future__ import annotations

import unicodedata

__all__ = ["ANONYMOUS", "MAX_ROOM_LENGTH", "MAX_USER_LENGTH", "clean_user", "valid_room"]

MAX_USER_LENGTH = 40
MAX_ROOM_LENGTH = 64
ANONYMOUS = "anonymous"


def _invisible(char: str) -> bool:
    # Unicode "C*" categories: controls, format characters (zero-width joiners, bidi
    # overrides), surrogates, private use and unassigned code points.
    return unicodedata.category(char)[0] == "C"


def clean_user(raw: str | None) -> str:
    """A display name: whitespace runs become one space, invisible characters go, at most
    ``MAX_USER_LENGTH`` characters remain; ``"anonymous"`` when nothing is left.

    APPSEC: names are shown to every member of a room; bidi overrides and zero-width
    characters would let one user pose as another.
    """
    if not raw:
        return ANONYMOUS
    # Bounded work whatever the length of the query string.
    text = raw[: MAX_USER_LENGTH * 4]
    visible = "".join(" " if char.isspace() else char for char in text if not _invisible(char))
    name = " ".join(visible.split())[:MAX_USER_LENGTH].rstrip()
    return name or ANONYMOUS


def valid_room(room: str) -> bool:
    """Rooms are 1 to ``MAX_ROOM_LENGTH`` visible characters, without surrounding spaces."""
    return (
        0 < len(room) <= MAX_ROOM_LENGTH
        and room == room.strip()
        and not any(_invisible(char) for char in room)
    )
