"""Pure HTTP helpers: status phrases, header validation and encoding. No I/O here."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import TypeAlias
from urllib.parse import quote_from_bytes

from ._types import Message, RawHeaders

HeadersLike: TypeAlias = Mapping[str, str] | Iterable[tuple[str, str]]

STATUS_PHRASES: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}

# RFC 9110 token: the grammar of header names and methods.
# APPSEC: a linear character class, anchored; no backtracking is possible.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# APPSEC: CR, LF and NUL are what header injection needs; other controls except TAB are refused
# too because no server or client treats them consistently.
_BAD_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# APPSEC: what a Host header may look like before it is used: a name or IPv4 (one character
# class, no nesting), or a bracketed IPv6 literal, then an optional port. Anything else (/, ?,
# #, @, \, spaces, controls) is not a plain host.
_PLAIN_HOST = re.compile(r"(?:[A-Za-z0-9._-]{1,253}|\[([0-9A-Fa-f:.]{2,45})\])(?::([0-9]{1,5}))?")


class HeaderError(ValueError):
    """A header the application tried to emit is not valid HTTP (e.g. it carries CR/LF)."""


def status_has_no_body(status: int) -> bool:
    """1xx, 204 and 304 answers carry no body and no Content-Length (RFC 9110 6.4.1, 8.6)."""
    return status < 200 or status == 204 or status == 304


# PERF: Content-Length values of small bodies, formatted once (b"%d" % n costs more than the
# rest of the header list).
_SMALL = 4096
_SMALL_LENGTHS = [b"%d" % n for n in range(_SMALL)]


def sends_body(status: int, head: bool) -> bool:
    """Whether body bytes may follow the response start: never on HEAD nor on 1xx/204/304.

    Real servers (h11, httptools) drop the connection when an app sends bytes there, and the
    next pipelined request is never answered.
    """
    return not head and not status_has_no_body(status)


def start_message(
    status: int,
    head: bool,
    headers: RawHeaders,
    extra: RawHeaders | None = None,
    length: int | None = None,
    default_type: bytes | None = None,
) -> tuple[Message, bool]:
    """The ``http.response.start`` message of every response aaf sends, and whether body bytes
    may follow it: the one place for these rules (every sender calls it).

    ``headers`` are the response's own, ``extra`` those put on the connection
    (``conn.put_resp_header``), ``length`` the body's size when it is known, ``default_type`` the
    Content-Type to use when nobody set one.

    - No body on HEAD nor on 1xx/204/304 (see :func:`sends_body`); 1xx/204/304 also get no
      Content-Length and no default Content-Type (RFC 9110 8.6).
    - One Content-Type: a type put on the connection replaces the response's own (often a class
      default, such as JsonResponse's); the default applies only when neither has one.
    - One Content-Length: ours, unless a header already gives the same value; a header giving
      another value is a :class:`HeaderError` (a server would cut the body short or wait).
    """
    if extra:
        for name, _ in extra:
            if name == b"content-type":
                headers = [pair for pair in headers if pair[0] != b"content-type"]
                default_type = None
                break
        headers = headers + extra
    # PERF: status_has_no_body() and sends_body() written out: this runs once per response.
    if status < 200 or status == 204 or status == 304:
        return {"type": "http.response.start", "status": status, "headers": headers}, False
    declared: bytes | None = None
    if len(headers) == 1 and headers[0][0] == b"content-type":
        default_type = None  # PERF: the usual response's headers, read without a loop
    else:
        for name, value in headers:
            if name == b"content-length":
                declared = value
            elif name == b"content-type":
                default_type = None
    if length is not None and declared is None:
        # PERF: the usual case builds one new list: ours first, then the headers given.
        length_pair = (
            b"content-length",
            _SMALL_LENGTHS[length] if length < _SMALL else b"%d" % length,
        )
        if default_type is None:
            headers = [length_pair, *headers]
        else:
            headers = [length_pair, (b"content-type", default_type), *headers]
    else:
        if length is not None and declared != b"%d" % length:
            raise HeaderError(
                f"the Content-Length header says {declared!r:.30} but the body has {length} "
                "bytes; remove the header, aaf sets it"
            )
        if default_type is not None:
            headers = [*headers, (b"content-type", default_type)]
    return {"type": "http.response.start", "status": status, "headers": headers}, not head


def phrase(status: int) -> str:
    return STATUS_PHRASES.get(status, "Unknown Status")


def is_token(value: str) -> bool:
    return _TOKEN.fullmatch(value) is not None


# What a query may carry as it is; everything else (controls, spaces, non-ASCII) is escaped.
QUERY_SAFE = "&=%+;:/?@!$'()*,~"


def encode_query(raw: bytes) -> str:
    """A raw query string as URL text (for ``conn.url`` and ``Location`` headers).

    Bytes a query may not carry raw are percent-encoded as they are (a non-ASCII byte is not
    re-encoded as UTF-8); existing escapes and separators are kept.
    """
    # APPSEC: a hostile query (CR, LF, DEL, NUL...) can then never break a header (or be a 500).
    return quote_from_bytes(raw, safe=QUERY_SAFE)


def is_plain_host(value: str) -> bool:
    """Whether a Host header value is a plain ``host[:port]`` that URL parsers accept back."""
    match = _PLAIN_HOST.fullmatch(value)
    if match is None:
        return False
    ipv6, port = match.groups()
    # APPSEC: a port past 65535 or a bracketed non-address would make url.port or a re-parse
    # of str(url) raise ValueError (a 500) in application code.
    if port is not None and int(port) > 65535:
        return False
    if ipv6 is not None:
        try:
            ipaddress.IPv6Address(ipv6)
        except ValueError:
            return False
    return True


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


class HeaderParamError(ValueError):
    """A request header's parameters cannot be read unambiguously (e.g. a repeated name)."""


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted-string starting after the opening quote at ``start``; returns (value, end).

    Only ``\\"`` and ``\\\\`` are escapes: browsers send file names with literal backslashes
    (``C:\\dir\\a.txt``), so any other backslash stays as it is. An unterminated string runs to
    the end of ``text``.
    """
    # APPSEC: each find() starts where the previous scan stopped and results are reused until
    # passed, so a run of backslashes or quotes is scanned once: linear time.
    out: list[str] = []
    pos = start
    quote_at = text.find('"', pos)
    slash_at = text.find("\\", pos)
    while True:
        if quote_at == -1:
            quote_at = len(text)
        if slash_at == -1 or slash_at >= quote_at:
            out.append(text[pos:quote_at])
            return "".join(out), quote_at + 1
        out.append(text[pos:slash_at])
        escaped = text[slash_at + 1 : slash_at + 2]
        out.append(escaped if escaped in ('"', "\\") else "\\" + escaped)
        pos = slash_at + 2
        if quote_at < pos:
            quote_at = text.find('"', pos)
        slash_at = text.find("\\", pos)


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type; key=value; key="quoted"`` into the lower-cased first item and parameters.

    Used for Content-Type and multipart Content-Disposition. Parameter names are lower-cased;
    ``filename*`` and other extended names are kept under their own key and never replace the
    plain one. Raises :class:`HeaderParamError` when a name is repeated (two parsers could pick
    different values). Plain string scanning in one pass: linear in the length of ``value``.
    """
    first, _, rest = value.partition(";")
    params: dict[str, str] = {}
    pos, end = 0, len(rest)
    while pos < end:
        semi = rest.find(";", pos)
        if semi == -1:
            semi = end
        equals = rest.find("=", pos, semi)
        if equals == -1:  # a bare word such as "; secure": no value, ignored
            pos = semi + 1
            continue
        name = rest[pos:equals].strip(" \t").lower()
        start = equals + 1
        while start < end and rest[start] in " \t":
            start += 1
        if start < end and rest[start] == '"':
            param, after = _quoted(rest, start + 1)
            # Whatever follows the closing quote up to the next ';' is ignored.
            next_semi = rest.find(";", after) if after < end else -1
            pos = end if next_semi == -1 else next_semi + 1
        else:
            param = rest[start:semi].strip(" \t")
            pos = semi + 1
        if not name:
            continue
        if name in params:
            raise HeaderParamError(f"parameter {name[:40]!r} is given twice")
        params[name] = param
    return first.strip(" \t").lower(), params
