"""Pure HTTP helpers: status phrases, header validation and encoding. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TypeAlias

from ._types import RawHeaders

HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

STATUS_PHRASES: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}

# RFC 9110 token: the grammar of header names and methods.
# APPSEC: a linear character class, anchored; no backtracking is possible.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# APPSEC: CR, LF and NUL are what header injection needs; other controls except TAB are refused
# too because no server or client treats them consistently.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class HeaderError(ValueError):
    """A header the application tried to emit is not valid HTTP (e.g. it carries CR/LF)."""


def status_has_no_body(status: int) -> bool:
    """1xx, 204 and 304 answers carry no body and no Content-Length (RFC 9110 6.4.1, 8.6)."""
    return status < 200 or status in (204, 304)


def phrase(status: int) -> str:
    return STATUS_PHRASES.get(status, "Unknown Status")


def is_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


def check_header_value(name: str, value: str) -> str:
    """Return ``value`` if it may be sent as a header value, else raise :class:`HeaderError`."""
    bad = _BAD_VALUE_CHAR.search(value)
    if bad is not None:
        raise HeaderError(
            f"header {name!r} has a control character {bad.group()!r} in its value; "
            "CR, LF and NUL would let a client inject headers. Remove or percent-encode it."
        )
    return value


def encode_header(name: str, value: str) -> tuple[bytes, bytes]:
    """Validate one header and encode it the way ASGI wants it (lower-case name, latin-1)."""
    if not is_token(name):
        raise HeaderError(
            f"{name!r} is not a valid header name; use letters, digits and '-' (an RFC 9110 token)"
        )
    check_header_value(name, value)
    try:
        raw_value = value.encode("latin-1")
    except UnicodeEncodeError:
        raise HeaderError(
            f"header {name!r} has characters outside latin-1; percent-encode the value "
            "(urllib.parse.quote) or use an RFC 8187 encoding"
        ) from None
    return name.lower().encode("ascii"), raw_value


def encode_headers(headers: HeadersLike | None) -> RawHeaders:
    """Encode a mapping or a list of pairs given by application code into raw ASGI headers."""
    if headers is None:
        return []
    items: Iterable[tuple[str, str]] = headers.items() if isinstance(headers, Mapping) else headers
    return [encode_header(name, value) for name, value in items]
