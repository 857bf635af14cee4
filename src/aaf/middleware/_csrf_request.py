"""What CSRFMiddleware reads from a request: origins, and the form field in the body.

Origins are compared as ``(scheme, host, port)``, the port filled in from the scheme.

The form field is found in the body without taking the body from the app.
The body messages read while looking are kept and handed back to the app first (replay), then
the server's ``receive`` takes over: the app sees exactly the messages the server sent. At most
``limit`` bytes are read ahead; a field further in the body is not looked for (the middleware
then refuses and says to put the field first or to send the header).
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from .._http import HeaderParamError, is_plain_host, parse_header_params

if TYPE_CHECKING:
    from .._types import Message, Receive, Scope

__all__ = ["FormTokenReader", "Origin", "form_kind", "own_origin", "parse_origin", "replaying"]

_MAX_FIELD = 1024  # a CSRF token is under 100 bytes; anything longer is not one
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WS_SCHEMES = {"ws": "http", "wss": "https"}

Origin = tuple[str, str, int]
# A serialized origin: scheme, host (a name or a bracketed IPv6 literal), optional port; browsers
# send host names in ASCII (punycode). No path, no user info.
_ORIGIN = re.compile(r"(https?)://([a-z0-9._-]{1,253}|\[[0-9a-f:.]{2,45}\])(?::([0-9]{1,5}))?")


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of a serialized origin (``https://example.com:8443``), or None."""
    match = _ORIGIN.fullmatch(value.strip().lower())
    if match is None:
        return None
    scheme, host, port = match.groups()
    return scheme, host, int(port) if port else _DEFAULT_PORTS[scheme]


def own_origin(scope: Scope) -> Origin | None:
    """The request's own origin, built like ``conn.url``: the scope's scheme, the Host header
    when it is one plain ``host[:port]``, else the server address."""
    scheme: str = scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http")
    scheme = _WS_SCHEMES.get(scheme, scheme)
    hosts = 0
    netloc = ""
    for key, value in scope["headers"]:
        if key == b"host":
            hosts += 1
            netloc = value.decode("latin-1")
    if hosts > 1:
        netloc = ""
    if not netloc or not is_plain_host(netloc):
        server = scope.get("server")
        if not server:
            return None
        host, port = server[0], server[1]
        netloc = f"[{host}]" if ":" in host else host
        if port is not None:
            netloc += f":{port}"
    return parse_origin(f"{scheme}://{netloc}")


def form_kind(content_type: bytes | None) -> tuple[str, str]:
    """``("urlencoded" | "multipart" | "", boundary)`` for a request's Content-Type."""
    if content_type is None:
        return "", ""
    try:
        media, params = parse_header_params(content_type.decode("latin-1"))
    except HeaderParamError:
        return "", ""
    if media == "application/x-www-form-urlencoded":
        return "urlencoded", ""
    if media == "multipart/form-data" and params.get("boundary"):
        return "multipart", params["boundary"]
    return "", ""


def replaying(buffered: deque[Message], receive: Receive) -> Receive:
    """A ``receive`` that returns the ``buffered`` messages first, then the server's."""
    if not buffered:
        return receive

    async def replay() -> Message:
        if buffered:
            return buffered.popleft()
        return await receive()

    return replay


class FormTokenReader:
    """Reads body messages until the field ``field`` is found, the body ends or ``limit``."""

    def __init__(self, field: str, limit: int) -> None:
        self.field = field
        self.field_bytes = field.encode()
        self.limit = limit
        self.buffered: deque[Message] = deque()

    async def read(self, receive: Receive, kind: str, boundary: str) -> str | None:
        """The field's value, or None; ``self.buffered`` holds every message read."""
        scanner: _UrlencodedScanner | _MultipartScanner
        if kind == "urlencoded":
            scanner = _UrlencodedScanner(self)
        else:
            try:
                scanner = _MultipartScanner(self, boundary.encode("ascii"))
            except (UnicodeEncodeError, ValueError):
                return None
        seen = 0
        while True:
            message = await receive()
            self.buffered.append(message)
            if message["type"] != "http.request":
                return None  # a disconnect: the app will see it too
            chunk: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            seen += len(chunk)
            # PERF/APPSEC: bounded read-ahead; the rest of a big upload is never buffered here.
            found = scanner.feed(chunk[: max(0, self.limit - (seen - len(chunk)))], not more)
            if found is not None or not more or seen >= self.limit:
                return found


class _UrlencodedScanner:
    """Looks at each complete ``name=value`` pair once, as the bytes arrive."""

    def __init__(self, reader: FormTokenReader) -> None:
        self.reader = reader
        self.data = bytearray()
        self.pos = 0

    def pair_value(self, pair: bytes) -> str | None:
        name, _, value = pair.partition(b"=")
        wanted = self.reader.field_bytes
        # PERF: decode only names that could be the field (plain match, or percent/plus coded).
        if name != wanted and (b"%" not in name and b"+" not in name):
            return None
        if unquote_plus(name.decode("latin-1"), errors="replace") != self.reader.field:
            return None
        if len(value) > _MAX_FIELD:
            return None
        return unquote_plus(value.decode("latin-1"), errors="replace")

    def feed(self, chunk: bytes, done: bool) -> str | None:
        data = self.data
        data += chunk
        while True:
            amp = data.find(b"&", self.pos)
            if amp < 0:
                break
            found = self.pair_value(bytes(data[self.pos : amp]))
            self.pos = amp + 1
            if found is not None:
                return found
        if done:
            return self.pair_value(bytes(data[self.pos :]))
        return None


class _MultipartScanner:
    """python-multipart callbacks that keep only the value of the part named like the field."""

    def __init__(self, reader: FormTokenReader, boundary: bytes) -> None:
        self.reader = reader
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.matching = False
        self.value = bytearray()
        self.found: str | None = None
        self.broken = False
        self.parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self.on_part_begin,
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
            },
        )

    def on_part_begin(self) -> None:
        self.matching = False
        self.value.clear()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self.header_name).lower() == b"content-disposition":
            try:
                _, params = parse_header_params(self.header_value.decode("latin-1"))
            except HeaderParamError:
                params = {}
            # A file part is never the token, whatever its name.
            self.matching = params.get("name") == self.reader.field and "filename" not in params
        self.header_name.clear()
        self.header_value.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.matching:
            self.value += data[start:end]
            if len(self.value) > _MAX_FIELD:
                self.matching = False

    def on_part_end(self) -> None:
        if self.matching and self.found is None:
            self.found = self.value.decode("utf-8", errors="replace")
        self.matching = False

    def feed(self, chunk: bytes, done: bool) -> str | None:
        if self.broken or self.found is not None:
            return self.found
        try:
            self.parser.write(chunk)
        except MultipartParseError:
            # Malformed: no token here; the app's own form parser reports the error.
            self.broken = True
        return self.found
