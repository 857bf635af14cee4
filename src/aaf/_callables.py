"""Telling async callables from sync ones (routing and background tasks both need it), and the
mark that lets routing apply connection-taking decorators after adapting a handler."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "CONNECTION_WRAPPER",
    "connection_decorator",
    "is_async_callable",
    "mark_required_scopes",
    "peel_connection_decorators",
    "required_scopes",
]


def is_async_callable(func: Callable[..., Any]) -> bool:
    """``async def`` functions, and objects whose ``__call__`` is ``async def``.

    ``inspect.iscoroutinefunction`` alone misses the second kind.
    """
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - the bound __call__, not callable()
    )


#: Set by :func:`connection_decorator` on the functions it returns (see there).
CONNECTION_WRAPPER = "__aaf_connection_wrapper__"
AsyncHandler = Callable[..., Awaitable[Any]]
Wrap = Callable[[AsyncHandler], AsyncHandler]


def connection_decorator(handler: Callable[..., Any], wrap: Wrap) -> Any:
    """``wrap(handler)``, marked so that routing applies ``wrap`` *after* adapting the handler.

    ``wrap`` builds ``async (conn, *args, **kwargs)`` around a handler that takes the
    connection first. A user's handler may not take it (``async def item(item_id: int)``, or a
    typed one), so the router peels these decorators off, adapts the handler to the one form
    ``handler(conn, **params)`` (typed arguments filled), and applies each ``wrap`` to that.
    Called directly (a unit test awaiting the decorated function), the function is
    ``wrap(handler)`` as before.
    """
    wrapped = wrap(handler)
    functools.update_wrapper(wrapped, handler)
    setattr(wrapped, CONNECTION_WRAPPER, wrap)
    return wrapped


def peel_connection_decorators(
    handler: Callable[..., Any],
) -> tuple[Callable[..., Any], list[Wrap]]:
    """The user's handler under every :func:`connection_decorator`, and their ``wrap``
    functions from the outermost in."""
    wraps: list[Wrap] = []
    while True:
        wrap = getattr(handler, CONNECTION_WRAPPER, None)
        inner = getattr(handler, "__wrapped__", None)
        if wrap is None or inner is None:
            return handler, wraps
        wraps.append(wrap)
        handler = inner


#: Set by ``requires()`` on the function it returns: the scopes it demands (a frozenset).
REQUIRED_SCOPES = "__aaf_required_scopes__"


def mark_required_scopes(guarded: Callable[..., Any], scopes: frozenset[str]) -> None:
    """Record on ``guarded`` that it lets only users holding ``scopes`` through (for the API
    documents; the check itself is in the function)."""
    setattr(guarded, REQUIRED_SCOPES, scopes)


def required_scopes(handler: Callable[..., Any]) -> frozenset[str] | None:
    """Every scope the ``requires()`` decorators on ``handler`` demand together (each one must
    pass), or None when no layer is guarded.

    The whole ``__wrapped__`` chain is read, not only the connection decorators: a ``requires``
    under an ordinary ``functools.wraps`` decorator still runs. Registration time only.
    """
    found: frozenset[str] | None = None
    layer: object = handler
    seen: set[int] = set()
    while layer is not None and id(layer) not in seen:
        seen.add(id(layer))
        scopes = getattr(layer, REQUIRED_SCOPES, None)
        if isinstance(scopes, frozenset):
            found = scopes if found is None else found | scopes
        layer = getattr(layer, "__wrapped__", None)
    return found
