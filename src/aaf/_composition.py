"""How an app is put together: its middleware chain and the connection handlers it tries.

``Middleware(cls, **options)`` describes one middleware (options type-checked against
``cls``); ``build_chain`` wraps them around the app once, when the app is built. A connection
handler is what ``aaf([...])`` tries in order: a Router, an async callable taking the
connection, or a plain ASGI app that takes the connection over.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, Generic, ParamSpec, TypeAlias

from ._callables import is_async_callable
from ._types import ASGIApp
from .connection import Connection
from .routing import Router

__all__ = ["ConnectionHandler", "Middleware", "as_connection_handler", "build_chain"]

P = ParamSpec("P")
#: Anything ``aaf([...])`` tries in order: a Router, or an async callable taking the connection.
ConnectionHandler: TypeAlias = Callable[[Connection], Any]


class Middleware(Generic[P]):
    """A middleware class and its options: ``Middleware(CORSMiddleware, allow_origins=["*"])``.

    The options are type-checked against the class; the app builds
    ``cls(inner_app, *args, **kwargs)`` once, when the app is created.
    """

    __slots__ = ("args", "cls", "kwargs")

    def __init__(
        self, cls: Callable[Concatenate[ASGIApp, P], ASGIApp], /, *args: P.args, **kwargs: P.kwargs
    ) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return self.cls(app, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"Middleware({getattr(self.cls, '__name__', self.cls)!r})"


def build_chain(
    middleware: Iterable[Middleware[Any] | Callable[[ASGIApp], ASGIApp]], inner: ASGIApp
) -> ASGIApp:
    """Wrap ``inner`` in ``middleware``, the first listed outermost (once, not per request)."""
    entry = inner
    for item in reversed(list(middleware)):
        entry = item.wrap(entry) if isinstance(item, Middleware) else item(entry)
    return entry


def as_connection_handler(entry: Any) -> ConnectionHandler:
    """A Router, an async callable taking the connection, or a plain ASGI app (three
    arguments: it takes the connection over) - each tried in turn by the app."""
    if isinstance(entry, Router):
        return entry
    if not callable(entry) or not is_async_callable(entry):
        raise TypeError(
            f"aaf() takes routers and async callables taking the connection, not {entry!r}"
        )
    try:
        params = [
            p
            for p in inspect.signature(entry).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        params = []
    if len(params) == 3:
        asgi_app: ASGIApp = entry

        async def take_over(conn: Connection) -> None:
            await asgi_app(conn.scope, conn.asgi_receive, conn.asgi_send)

        return take_over
    handler: ConnectionHandler = entry
    return handler
