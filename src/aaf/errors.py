"""Exceptions users raise or catch, and the registry that maps them to handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from ._http import HeadersLike, encode_headers, phrase
from ._types import RawHeaders

if TYPE_CHECKING:
    from .connection import Connection

__all__ = [
    "BodyStateError",
    "ClientDisconnect",
    "ExceptionHandler",
    "HTTPError",
    "ResponseStateError",
]


class HTTPError(Exception):
    """Raise from anywhere in a handler to answer with this status.

    The default body is JSON ``{"error": detail}`` (``detail`` defaults to the status phrase);
    an ``exception_handlers`` entry for the status code or for ``HTTPError`` can change that.
    """

    def __init__(
        self, status_code: int, detail: Any = None, headers: HeadersLike | None = None
    ) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(
                f"HTTPError is for 4xx/5xx answers, not {status_code}; "
                "return a response object for other statuses"
            )
        self.status_code = status_code
        self.detail: Any = phrase(status_code) if detail is None else detail
        self.raw_headers: RawHeaders = encode_headers(headers)
        super().__init__(status_code, self.detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"


class ResponseStateError(RuntimeError):
    """The response was used out of order (sent after finishing, started twice, ...)."""


class BodyStateError(RuntimeError):
    """The request body was consumed in two ways that cannot both be satisfied."""


class ClientDisconnect(Exception):
    """The client went away while the request body was being read."""


ExceptionHandler: TypeAlias = Callable[["Connection", Any], Awaitable[Any] | Any]
HandlerKey: TypeAlias = int | type[BaseException]


class ExceptionHandlers:
    """Finds the handler for an exception: by status code for HTTPError, then by class (MRO)."""

    __slots__ = ("_by_class", "_by_status")

    def __init__(self, handlers: Mapping[HandlerKey, ExceptionHandler] | None = None) -> None:
        self._by_status: dict[int, ExceptionHandler] = {}
        self._by_class: dict[type[BaseException], ExceptionHandler] = {}
        for key, handler in (handlers or {}).items():
            if isinstance(key, int):
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
        return None
