"""A WebSocket chat: rooms at ``/chat/<room>``, fanned out through ``aaf.broadcast``.

In-memory for one process; with a Redis broadcast and :class:`RedisPresence`, members on
different server processes share rooms and ``user_count`` counts all of them. See ``router``
for the protocol and ``messages`` for its types.
"""

from .auth import ChatTokens
from .messages import ChatIn, ChatOut
from .names import clean_user, valid_room
from .presence import MemoryPresence, Presence, RedisPresence
from .router import chat_router

__all__ = [
    "ChatIn",
    "ChatOut",
    "ChatTokens",
    "MemoryPresence",
    "Presence",
    "RedisPresence",
    "chat_router",
    "clean_user",
    "valid_room",
]
