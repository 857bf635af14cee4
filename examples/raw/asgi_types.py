"""The ASGI callable's signature, spelled out (the standard library has no names for it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]


def only_http(scope: Scope) -> None:
    """Refuse anything but HTTP.

    Raising on a ``lifespan`` scope is how the ASGI spec lets an app say "no lifespan here":
    the server (or a framework that mounts the app) carries on without it.
    """
    if scope["type"] != "http":
        raise RuntimeError(f"this app serves HTTP only, not {scope['type']!r}")


def route_path(scope: Scope) -> str:
    """The path below the mount point. Per the ASGI spec ``path`` includes ``root_path``."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"
