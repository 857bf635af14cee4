"""Typed WebSocket messages: decoding into a type, the 1007 reason, the ``sends=`` check.

Used by ``WebSocketMixin.receive_as`` / ``iter_as`` / ``send_as``; kept apart so the mixin only
moves messages.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any

import msgspec

__all__ = ["decode_message", "no_message_type", "unexpected_send_type"]

_AT = " - at `"


@functools.lru_cache(maxsize=256)
def _decoder(message_type: Any) -> msgspec.json.Decoder[Any]:
    # PERF: a Decoder compiles its type once; a route uses the same type for every message.
    return msgspec.json.Decoder(message_type)


def _reason(exc: msgspec.DecodeError) -> str:
    """msgspec's message with the JSON path first: ``$.text: Expected `str`, got `int```.

    Clients show close reasons as they are; the path is what tells them which field to fix.
    """
    message = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        detail, found, path = message.rpartition(_AT)
        if found and path.endswith("`"):
            return f"{path[:-1]}: {detail}"
        return f"$: {message}"
    return f"invalid JSON: {message}"


def decode_message(message_type: Any, payload: str | bytes) -> Any:
    """``payload`` (JSON) decoded into ``message_type``; ``ValueError`` with the reason if not."""
    try:
        decoder = _decoder(message_type)
    except TypeError:
        # An unhashable annotation (rare): no cache, the same decoding.
        decoder = msgspec.json.Decoder(message_type)
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValueError(_reason(exc)) from None
    except RecursionError:
        # APPSEC: "[[[[..." within the size limit nests deeper than the decoder allows: the
        # client's mistake (1007), not a server error.
        raise ValueError("invalid JSON: nested too deeply") from None
    except UnicodeDecodeError as exc:
        # msgspec raises this (not DecodeError) for invalid UTF-8 inside a JSON string.
        raise ValueError(f"invalid JSON: not valid UTF-8 at byte {exc.start}") from None


def no_message_type(method: str, option: str) -> TypeError:
    return TypeError(
        f"{method} needs a message type: pass one (conn.iter_as(ChatIn)) or declare it on the "
        f"route (@router.websocket('/chat', {option}=ChatIn))"
    )


@functools.lru_cache(maxsize=256)
def _classes(declared: Any) -> tuple[type, ...] | None:
    """The classes an ``isinstance`` check can use for ``sends=``; None when it is no such
    thing (``list[Out]``, ``Literal``, ``Annotated``...): those are not checked at run time."""
    if isinstance(declared, type) and typing.get_origin(declared) is None:
        return (declared,)
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        members = typing.get_args(declared)
        if all(isinstance(m, type) and typing.get_origin(m) is None for m in members):
            return tuple(members)
    return None


def unexpected_send_type(declared: Any, message: Any) -> str | None:
    """Why ``message`` does not match the route's ``sends=`` (None when it does or when the
    declared type cannot be checked cheaply).

    PERF: one cached lookup and one ``isinstance`` per message; deeper checks (every field of
    a ``list[Out]``) would cost as much as encoding, so they are left to the type checker.
    """
    try:
        classes = _classes(declared)
    except TypeError:
        return None
    if classes is None or isinstance(message, classes):
        return None
    names = " | ".join(c.__name__ for c in classes)
    return (
        f"send_as() got {type(message).__name__}, but the route declares sends={names}; send "
        "one of those, or change sends= on the route"
    )
