"""Exceptions users raise or catch (the handler registry is in ``aaf._handlers``)."""

from __future__ import annotations

from typing import Any

from . import _json
from ._http import HeadersLike, encode_headers, phrase
from ._types import RawHeaders

__all__ = [
    "BodyStateError",
    "ClientDisconnect",
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

    def json_body(self) -> bytes:
        """The default body, ``{"error": detail}``; a detail JSON cannot carry (an exception, a
        domain object) is sent as its ``str()`` rather than failing the answer."""
        try:
            return _json.encode({"error": self.detail})
        except Exception:  # msgspec raises TypeError, EncodeError or OverflowError
            return _json.encode({"error": str(self.detail)})


class ResponseStateError(RuntimeError):
    """The response was used out of order (sent after finishing, started twice, ...)."""


class BodyStateError(RuntimeError):
    """The request body was consumed in two ways that cannot both be satisfied."""


class ClientDisconnect(OSError):
    """The client went away: while the request body was read, or while the response was sent.

    An ``OSError``, as ASGI 2.4 servers raise from ``send()`` for a client that left, so an app
    that took over a connection (``conn.asgi_send``) and catches ``OSError`` keeps working.
    """
