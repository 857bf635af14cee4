"""Cookie parsing (request ``Cookie`` header) and ``Set-Cookie`` building. Plain string code only.

APPSEC: parsing is one pass of ``split``/``partition``; the only regex (quoted-string escapes)
consumes a fixed number of characters per match, so hostile inputs cost linear time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Literal, TypedDict

from ._http import is_token

__all__ = ["CookieError", "CookieOptions", "build_set_cookie", "parse_cookie_header"]

SameSite = Literal["lax", "strict", "none", "Lax", "Strict", "None"]

_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))", re.DOTALL)
# RFC 6265 cookie-octet: printable ASCII except space, DQUOTE, comma, semicolon and backslash.
_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CookieOptions(TypedDict, total=False):
    """The keyword options of ``build_set_cookie`` (and of the methods that call it)."""

    max_age: int | None
    expires: datetime | str | int | None
    path: str | None
    domain: str | None
    secure: bool
    httponly: bool
    samesite: SameSite | None
    partitioned: bool


class CookieError(ValueError):
    """A cookie the application tried to set cannot be sent safely; the message says why."""


def _unescape(match: re.Match[str]) -> str:
    octal, char = match.groups()
    return chr(int(octal, 8)) if octal else char


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse one ``Cookie`` header (several headers joined with ``;``) into ``{name: value}``.

    The first occurrence of a name wins (browsers send the most specific path first). Pairs
    without a name, with an invalid name, or with control characters are dropped: a nameless
    cookie can never shadow a named one.
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            continue
        name = name.strip(" \t")
        if not name or not is_token(name) or name in cookies:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = _ESCAPE.sub(_unescape, value[1:-1])
        if _CONTROL.search(value) is not None:
            continue
        cookies[name] = value
    return cookies


def _quote_value(value: str) -> str:
    if _CONTROL.search(value) is not None:
        raise CookieError(
            "cookie value has a control character (CR, LF, NUL...); it would break the "
            "Set-Cookie header. Encode the value first (e.g. urllib.parse.quote or base64)."
        )
    if not value.isascii():
        raise CookieError(
            "cookie value has non-ASCII characters; encode it first (urllib.parse.quote or base64)"
        )
    if _COOKIE_OCTETS.fullmatch(value) is not None:
        return value
    # Same quoting as Python's http.cookies, which parse_cookie_header undoes.
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace(";", "\\073").replace(",", "\\054")
    )
    return f'"{escaped}"'


def _check_attribute(name: str, value: str) -> str:
    if _CONTROL.search(value) is not None or ";" in value:
        raise CookieError(f"cookie {name} {value!r} may not contain ';' or control characters")
    return value


def build_set_cookie(
    key: str,
    value: str = "",
    *,
    max_age: int | None = None,
    expires: datetime | str | int | None = None,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    httponly: bool = False,
    samesite: SameSite | None = "lax",
    partitioned: bool = False,
) -> str:
    """Return the value of one ``Set-Cookie`` header, or raise :class:`CookieError`."""
    if not is_token(key):
        raise CookieError(f"{key!r} is not a valid cookie name (letters, digits, '-', '_', '.')")
    parts = [f"{key}={_quote_value(value)}"]
    if max_age is not None:
        parts.append(f"Max-Age={int(max_age)}")
    if expires is not None:
        if isinstance(expires, int):
            expires = datetime.fromtimestamp(datetime.now(UTC).timestamp() + expires, UTC)
        if isinstance(expires, datetime):
            expires = format_datetime(expires.astimezone(UTC), usegmt=True)
        parts.append(f"Expires={_check_attribute('expires', expires)}")
    if path is not None:
        parts.append(f"Path={_check_attribute('path', path)}")
    if domain is not None:
        parts.append(f"Domain={_check_attribute('domain', domain)}")
    if secure:
        parts.append("Secure")
    if httponly:
        parts.append("HttpOnly")
    if samesite is not None:
        site = samesite.lower()
        if site not in ("lax", "strict", "none"):
            raise CookieError(f"samesite must be 'lax', 'strict' or 'none', not {samesite!r}")
        if site == "none" and not secure:
            raise CookieError(
                "samesite='none' needs secure=True; browsers drop the cookie otherwise"
            )
        parts.append(f"SameSite={site.capitalize()}")
    if partitioned:
        if not secure:
            raise CookieError("partitioned=True needs secure=True")
        parts.append("Partitioned")
    return "; ".join(parts)
