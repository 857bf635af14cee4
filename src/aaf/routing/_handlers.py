"""Handlers at registration: check a handler's signature against its rule and adapt its call.

Every route's handler is awaited as ``handler(conn, **params)``. A handler that takes the
connection is used as it is (``def`` handlers get a worker-thread wrapper); one that takes only
the path parameters (``async def get_note(note_id: int)``) is wrapped once, here. A typed handler
(``Body[...]``, ``Query[...]`` ...) is compiled by ``_typed``; ``status_code=`` wraps the result.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._callables import is_async_callable, peel_connection_decorators
from ..connection import Connection
from ..response import BaseResponse
from ._rules import Handler, Param, Part, RouteError, describe, did_you_mean
from ._signature import build_spec, has_marker, type_hints
from ._spec import NO_DOC, HandlerSpec, RouteDoc
from ._typed import compile_typed

__all__ = ["adapt_handler"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def adapt_handler(
    handler: Callable[..., Any],
    parts: list[Part],
    rule: str,
    *,
    websocket: bool = False,
    doc: RouteDoc = NO_DOC,
) -> tuple[Handler, HandlerSpec | None]:
    """Check ``handler`` against ``rule``; return it as ``async (conn, **params)``, and its
    spec when it is typed (``Body[...]``, ``Query[...]`` ... arguments).

    Decorators made with ``connection_decorator`` (``timeout``, ``requires``, ``rate_limit``)
    are peeled off first and applied to the adapted handler, so they get the connection
    whatever the user's function takes.
    """
    inner, wraps = peel_connection_decorators(handler)
    adapted, spec = _adapt(inner, parts, rule, websocket)
    for wrap in reversed(wraps):
        adapted = wrap(adapted)
    if doc.status_code is not None:
        return _with_status(adapted, doc.status_code), spec
    return adapted, spec


def _adapt(
    handler: Callable[..., Any], parts: list[Part], rule: str, websocket: bool
) -> tuple[Handler, HandlerSpec | None]:
    if not callable(handler):
        raise RouteError(f"the handler for {rule!r} must be callable, not {handler!r}")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return _as_async(handler), None  # builtins and C callables: nothing to check
    params = list(signature.parameters.values())
    rule_params = {p.name: p for p in parts if isinstance(p, Param)}
    rule_names = list(rule_params)
    hints = type_hints(handler, rule)
    takes_connection = _takes_connection(handler, params, rule_names, rule, hints)
    if websocket and not takes_connection:
        raise RouteError(
            f"WebSocket handler {describe(handler)} for {rule!r} must take the connection as its "
            "first argument: async def handler(conn, ...)"
        )
    own = params[1:] if takes_connection else params
    spec = build_spec(
        handler, own, rule_params, rule, takes_connection=takes_connection, hints=hints
    )
    _check_parameters(handler, own, rule_names, rule, spec)
    if spec is not None:
        # PERF: an async handler is called directly by the typed runtime; a def handler
        # still goes to a worker thread.
        target = handler if is_async_callable(handler) else _in_thread(handler)
        return compile_typed(target, spec, rule, websocket=websocket), spec
    if takes_connection:
        return _as_async(handler), spec
    return _without_connection(handler), spec


def _takes_connection(
    handler: Callable[..., Any],
    params: list[inspect.Parameter],
    rule_names: Sequence[str],
    rule: str,
    hints: Mapping[str, Any],
) -> bool:
    """The first parameter is the connection when it says so or when nothing else can fill it
    (a typed argument such as ``page: Query[int]`` is filled by its marker)."""
    if not params:
        return False
    first = params[0]
    if has_marker(hints.get(first.name)):
        return False
    if _is_connection_annotation(first.annotation):
        if first.kind not in _POSITIONAL:
            raise RouteError(
                f"handler {describe(handler)} for {rule!r} must take the connection as its first "
                f"positional argument, not as {first}: async def handler(conn, ...)"
            )
        return True
    if first.kind is inspect.Parameter.VAR_POSITIONAL:
        return True  # handler(*args, ...) has always been given the connection
    return (
        first.kind in _POSITIONAL
        and first.default is inspect.Parameter.empty
        and first.name not in rule_names
    )


def _is_connection_annotation(annotation: Any) -> bool:
    if isinstance(annotation, str):  # `from __future__ import annotations` leaves text
        return annotation == "Connection" or annotation.endswith(".Connection")
    return isinstance(annotation, type) and issubclass(annotation, Connection)


def _check_parameters(
    handler: Callable[..., Any],
    params: list[inspect.Parameter],
    rule_names: Sequence[str],
    rule: str,
    spec: HandlerSpec | None,
) -> None:
    """Every rule parameter must be accepted; every required argument must come from the rule
    or, for a typed handler, from its marker (``Body``, ``Query`` ...)."""
    by_name = {p.name: p for p in params}
    filled = set(rule_names)
    if spec is not None:
        filled.update(f.name for f in spec.fields)
        if spec.body is not None:
            filled.add(spec.body.name)
    has_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    for name in rule_names:
        param = by_name.get(name)
        if (param is None or param.kind is inspect.Parameter.POSITIONAL_ONLY) and not has_var_kw:
            hint = did_you_mean(name, by_name)
            raise RouteError(
                f"rule {rule!r} has parameter {name!r} but handler {describe(handler)} "
                f"takes no argument {name!r}{hint}"
            )
    for param in params:
        if (
            param.kind is not inspect.Parameter.VAR_POSITIONAL
            and param.kind is not inspect.Parameter.VAR_KEYWORD
            and param.default is inspect.Parameter.empty
            and param.name not in filled
        ):
            raise RouteError(
                f"handler {describe(handler)} needs argument {param.name!r} but rule {rule!r} "
                f"has no '<{param.name}>'; add it to the rule or give the argument a default"
            )


def _as_async(handler: Callable[..., Any]) -> Handler:
    if is_async_callable(handler):
        return handler
    return _in_thread(handler)


def _in_thread(handler: Callable[..., Any]) -> Handler:
    # A plain def handler may block (file or database calls); it runs in a worker thread.
    @functools.wraps(handler)
    async def run_in_thread(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(handler, *args, **kwargs)

    return run_in_thread


def _with_status(handler: Handler, status: int) -> Handler:
    """``status_code=201``: the status of what the handler returns, unless it returns a
    response object or chose a status itself (``conn.resp_status_code``, a started response)."""

    async def call(conn: Connection, /, **params: Any) -> Any:
        result = await handler(conn, **params)
        if (
            conn.resp_status_code == 200
            and not conn.started
            and not isinstance(result, BaseResponse)
        ):
            conn.resp_status_code = status
        return result

    functools.update_wrapper(call, handler)
    return call


def _without_connection(handler: Callable[..., Any]) -> Handler:
    """Wrap a handler that takes only path parameters (it is built once, at registration)."""
    if is_async_callable(handler):

        async def call(conn: Any, /, **params: Any) -> Any:
            return await handler(**params)

    else:

        async def call(conn: Any, /, **params: Any) -> Any:
            # A plain def handler may block (file or database calls); it runs in a worker thread.
            return await asyncio.to_thread(handler, **params)

    functools.update_wrapper(call, handler)
    return call
