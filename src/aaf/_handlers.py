"""The exception-handler registry: which handler answers which exception."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias

from .errors import HTTPError

__all__ = ["ExceptionHandler", "ExceptionHandlers", "HandlerKey"]

#: ``handler(conn, exc)``, sync or async; it returns what a route handler may return.
ExceptionHandler: TypeAlias = Callable[..., Awaitable[Any] | Any]
#: A status code (HTTPError with that status; 500 also catches unhandled exceptions) or a class.
HandlerKey: TypeAlias = int | type[BaseException]


class ExceptionHandlers:
    """Finds the handler for an exception: by status code for HTTPError, then by class (MRO),
    and for an exception nothing else handles, the handler registered for 500."""

    __slots__ = ("_by_class", "_by_status")

    # Typed loosely on purpose: a dict mixing status codes and classes with handlers of
    # different signatures, built in a variable, is inferred as dict[object, function], which
    # must still type-check. Each entry is checked here instead.
    def __init__(self, handlers: Mapping[Any, object] | None = None) -> None:
        self._by_status: dict[int, ExceptionHandler] = {}
        self._by_class: dict[type[BaseException], ExceptionHandler] = {}
        for key, handler in (handlers or {}).items():
            if not callable(handler):
                raise TypeError(
                    f"the exception handler for {key!r} must be a function taking "
                    f"(conn, exc), not {handler!r}"
                )
            if isinstance(key, int) and not isinstance(key, bool):
                if not 400 <= key <= 599:
                    raise ValueError(f"exception handler status {key} must be in 400..599")
                self._by_status[key] = handler
            elif isinstance(key, type) and issubclass(key, BaseException):
                self._by_class[key] = handler
            else:
                raise TypeError(
                    f"exception_handlers keys are status codes or exception classes, not {key!r}"
                )

    def lookup(self, exc: BaseException) -> ExceptionHandler | None:
        if isinstance(exc, HTTPError):
            handler = self._by_status.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            handler = self._by_class.get(cls)
            if handler is not None:
                return handler
        if not isinstance(exc, HTTPError):
            # As in Starlette: a handler for 500 answers every unhandled exception.
            return self._by_status.get(500)
        return None
