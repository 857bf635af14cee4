"""Request forms: ``application/x-www-form-urlencoded`` and ``multipart/form-data``.

``await conn.form()`` parses the body with python-multipart's streaming parsers while it
arrives: nothing buffers the whole body, and every limit (``conn.limits``) is checked as soon
as it is crossed, after which no more of the body is read. File parts become
:class:`UploadFile` objects kept in memory up to ``limits.upload_spool_size`` and in an
anonymous temporary file past it; they are closed (and so removed) when the request ends,
also after errors and disconnects.

Names and values are decoded as UTF-8, undecodable bytes replaced (as for query strings): a
form never fails on its encoding.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeAlias

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, QuerystringParser

from ._http import HeaderParamError, parse_header_params
from .datastructures import Headers, MultiDict
from .errors import HTTPError
from .uploads import UnsafeFilenameError, UploadFile, base_name

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

    from .limits import Limits

# UploadFile and UnsafeFilenameError live in aaf.uploads; re-exported here for compatibility.
__all__ = ["BodyReader", "FormData", "OnFinish", "UnsafeFilenameError", "UploadFile", "parse_form"]

FormValue: TypeAlias = "str | UploadFile"
#: ``read_body(limit)``: the request body's chunks, failing with 413 past ``limit`` bytes
#: (``Connection.stream_body``).
BodyReader: TypeAlias = Callable[[int], AsyncGenerator[bytes, None]]
#: ``on_finish(callback)``: run ``callback()`` when the request ends (``Connection.on_finish``).
OnFinish: TypeAlias = Callable[[Callable[[], Any]], None]

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# RFC 2046 5.1.1: a boundary is 1 to 70 of these characters, and does not end with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MAX_BOUNDARY = 70
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Controls other than TAB, the ones a header value may not carry (as in _http.check_header_value).
_HEADER_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class FormData(MultiDict[FormValue]):
    """A parsed form: multi-valued, in the order received.

    ``form["key"]`` is the last value (as with query parameters); ``form.getlist("key")`` gives
    all of them. File parts are :class:`UploadFile` objects.
    """

    __slots__ = ()

    def uploads(self) -> list[UploadFile]:
        """Every uploaded file, in order."""
        return [value for _, value in self._list if isinstance(value, UploadFile)]

    async def close(self) -> None:
        """Close every uploaded file (done for you when the request ends)."""
        self.close_now()

    def close_now(self) -> None:
        for upload in self.uploads():
            upload.close_now()


# ---------------------------------------------------------------------------- parsing
async def parse_form(
    content_type: str | None,
    read_body: BodyReader,
    limits: Limits,
    on_finish: OnFinish,
) -> FormData:
    """Parse a request body as a form (what ``conn.form()`` calls); 415 for other types.

    ``content_type`` is the request's Content-Type header; ``read_body(limit)`` yields the body
    (413 past ``limit``); ``on_finish(callback)`` runs ``callback`` when the request ends (the
    uploads' temporary files are closed through it).
    """
    try:
        media, params = parse_header_params(content_type or "")
    except HeaderParamError as exc:
        raise HTTPError(400, f"invalid Content-Type: {exc}") from None
    if media == URLENCODED:
        return await _parse_urlencoded(read_body, limits)
    if media == MULTIPART:
        return await _parse_multipart(read_body, limits, on_finish, params.get("boundary"))
    raise HTTPError(415, f"Content-Type must be {URLENCODED} or {MULTIPART}")


def _decode(data: bytes | bytearray) -> str:
    # Same rule as query strings: UTF-8, undecodable bytes replaced (never an error).
    return bytes(data).decode("utf-8", "replace")


async def _parse_urlencoded(read_body: BodyReader, limits: Limits) -> FormData:
    max_fields = limits.form_fields
    items: list[tuple[str, FormValue]] = []
    name = bytearray()
    value = bytearray()

    def on_field_name(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])

    def on_field_data(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])

    def on_field_end() -> None:
        # APPSEC: only '&' separates fields; ';' is data (no role=user&x=;role=admin smuggling).
        items.append((_unquote(name), _unquote(value)))
        name.clear()
        value.clear()

    parser = QuerystringParser(
        callbacks={
            "on_field_name": on_field_name,
            "on_field_data": on_field_data,
            "on_field_end": on_field_end,
        }
    )
    separators = 0
    async with aclosing(read_body(limits.body)) as chunks:
        async for chunk in chunks:
            # APPSEC: a body of n fields has at least n-1 '&'; counting them in C first stops
            # field floods (and runs of bare '&') before the parser walks them.
            separators += chunk.count(b"&")
            if separators > max_fields:
                raise HTTPError(413, f"the form has more than {max_fields} fields")
            parser.write(chunk)
    parser.finalize()
    if len(items) > max_fields:
        raise HTTPError(413, f"the form has more than {max_fields} fields")
    return FormData(items)


_UNQUOTE_WINDOW = 16 * 1024
# APPSEC: a fixed-width pattern: each '%' is looked at once, whatever follows it.
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
# Every two-hex-digit spelling (either case) to its byte.
_HEX_BYTE = {
    (high + low).encode(): bytes([int(high + low, 16)])
    for high in "0123456789abcdefABCDEF"
    for low in "0123456789abcdefABCDEF"
}


def _percent_decode(raw: bytes) -> bytes:
    """``urllib.parse.unquote_to_bytes`` for bytes, with no Python-level work per escape.

    PERF: the standard library splits on every '%' and raises and catches a KeyError for each
    one that starts no escape: ~0.3 s of event-loop CPU for a MiB of bare '%'. Here the split
    (on real escapes only), the lookup of each escape and the join all run in C.
    """
    if b"%" not in raw:
        return raw
    parts = _ESCAPE.split(raw)  # text, hex digits, text, hex digits, ..., text
    parts[1::2] = map(_HEX_BYTE.__getitem__, parts[1::2])
    return b"".join(parts)


def _unquote(data: bytearray) -> str:
    """Percent- and plus-decode one url-encoded name or value."""
    raw = bytes(data).replace(b"+", b" ")
    if len(raw) <= _UNQUOTE_WINDOW or b"%" not in raw:
        return _decode(_percent_decode(raw))
    # APPSEC: the split briefly holds two objects per escape, about 60 times the size of a
    # value made of escapes; decoding window by window keeps that to one window.
    out = bytearray()
    start, end = 0, len(raw)
    while start < end:
        stop = min(start + _UNQUOTE_WINDOW, end)
        # Never cut inside an escape: move the cut before a '%' in the window's last 2 bytes.
        percent = raw.find(b"%", stop - 2, stop)
        if percent != -1 and stop < end:
            stop = percent
        out += _percent_decode(raw[start:stop])
        start = stop
    return _decode(out)


def _boundary(value: str | None) -> bytes:
    if not value:
        raise HTTPError(400, "multipart/form-data needs a boundary parameter in Content-Type")
    if len(value) > _MAX_BOUNDARY:
        raise HTTPError(400, f"the multipart boundary is longer than {_MAX_BOUNDARY} characters")
    if _BOUNDARY.fullmatch(value) is None:
        raise HTTPError(400, "the multipart boundary has characters RFC 2046 does not allow")
    return value.encode("ascii")


async def _parse_multipart(
    read_body: BodyReader,
    limits: Limits,
    on_finish: OnFinish,
    boundary: str | None,
) -> FormData:
    reader = _MultipartReader(limits)
    parser = MultipartParser(
        _boundary(boundary),
        callbacks=reader.callbacks(),
        max_header_count=limits.part_headers,
        max_header_size=limits.part_header_size,
    )
    # Registered before reading, so the files are closed however the request ends.
    on_finish(reader.close_all)
    try:
        async with aclosing(read_body(limits.multipart)) as chunks:
            async for chunk in chunks:
                parser.write(chunk)
        if parser.state != MultipartState.END:
            raise HTTPError(400, "the multipart body ends before its closing boundary")
    except MultipartParseError as exc:
        reader.close_all()
        raise HTTPError(400, f"malformed multipart body: {exc}") from None
    except BaseException:
        # Free temporary files now rather than at the end of the request.
        reader.close_all()
        raise
    return FormData(reader.items)


class _MultipartReader:
    """python-multipart callbacks that build the form and enforce the per-part limits."""

    def __init__(self, limits: Limits) -> None:
        self.max_parts = limits.parts
        self.max_files = limits.files
        self.max_field = limits.field
        self.spool_size = limits.spool
        self.items: list[tuple[str, FormValue]] = []
        self.uploads: list[UploadFile] = []
        self.parts = 0
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: list[tuple[bytes, bytes]] = []
        self.name = ""
        self.upload: UploadFile | None = None
        self.value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def close_all(self) -> None:
        for upload in self.uploads:
            upload.close_now()

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise HTTPError(413, f"the multipart body has more than {self.max_parts} parts")
        self.headers = []
        self.upload = None
        self.value = bytearray()

    # Header lines arrive in pieces; python-multipart bounds their count and size.
    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        value = bytes(self.header_value).strip()
        # APPSEC: a control character would reach upload.content_type / upload.headers and
        # break (as a 500) whatever echoes them into a response header or a log line.
        if _HEADER_CONTROL.search(value) is not None:
            raise HTTPError(400, "a multipart part header has control characters in its value")
        self.headers.append((bytes(self.header_name).lower(), value))
        self.header_name = bytearray()
        self.header_value = bytearray()

    def on_headers_finished(self) -> None:
        headers = Headers(self.headers)
        raw = headers.get_bytes("content-disposition")
        if raw is None:
            raise HTTPError(400, "a multipart part has no Content-Disposition header")
        try:
            kind, params = parse_header_params(_decode(raw))
        except HeaderParamError as exc:
            raise HTTPError(400, f"invalid multipart Content-Disposition: {exc}") from None
        name = params.get("name")
        if kind != "form-data" or name is None:
            raise HTTPError(
                400, 'a multipart part needs Content-Disposition: form-data; name="..."'
            )
        filename = params.get("filename")
        if _CONTROL.search(name) is not None or (
            filename is not None and _CONTROL.search(filename) is not None
        ):
            raise HTTPError(400, "a multipart name or filename has control characters")
        self.name = name
        # APPSEC: filename* (RFC 5987) never replaces the plain filename; it only marks a file.
        if filename is None and "filename*" not in params:
            return
        if len(self.uploads) >= self.max_files:
            raise HTTPError(413, f"the multipart body has more than {self.max_files} files")
        content_type = headers.get("content-type") or "application/octet-stream"
        upload = UploadFile(
            name,
            None if filename is None else base_name(filename),
            content_type,
            headers,
            spool_size=self.spool_size,
        )
        self.uploads.append(upload)
        self.upload = upload

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.upload is not None:
            self.upload.write_chunk(data[start:end])
            return
        if len(self.value) + (end - start) > self.max_field:
            raise HTTPError(
                413,
                f"form field {self.name[:40]!r} is larger than the {self.max_field}-byte limit",
            )
        self.value += data[start:end]

    def on_part_end(self) -> None:
        upload = self.upload
        if upload is not None:
            upload.file.seek(0)
            self.items.append((self.name, upload))
        else:
            self.items.append((self.name, _decode(self.value)))
