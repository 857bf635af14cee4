"""``FileResponse``: a file from disk with validators, conditional requests and byte ranges.

The rules quoted beside the code come from RFC 9110 (validators 8.8, preconditions 13, ranges 14,
206 in 15.3.7, 416 in 15.5.17) and RFC 6266 / RFC 8187 (``Content-Disposition``).

Blocking file work (stat, open, read) runs in worker threads; the event loop only sends.
"""

from __future__ import annotations

import asyncio
import itertools
import mimetypes
import os
import re
import secrets
import stat
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from typing import IO, TYPE_CHECKING
from urllib.parse import quote

from ._disconnect import DisconnectWatcher
from ._http import HeadersLike, response_start, sends_body
from .errors import ClientDisconnect, HTTPError
from .response import BaseResponse, Responder, content_type_header

if TYPE_CHECKING:
    from ._types import RawHeaders, Receive, Scope, Send

__all__ = [
    "MAX_RANGES",
    "FileResponse",
    "content_disposition",
    "evaluate_preconditions",
    "guess_media_type",
    "parse_range_header",
]

#: More ranges than this in one request and the Range header is ignored (whole file sent).
MAX_RANGES = 100
DEFAULT_CHUNK_SIZE = 64 * 1024
PATHSEND = "http.response.pathsend"

# APPSEC: ``[0-9]`` (not ``\d``) so only ASCII digits count; int() alone would accept other
# scripts' digits, signs, spaces and underscores.
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
# A number with more significant digits than this is larger than any file: it is never parsed
# (int() of a huge digit string costs quadratic time and raises past 4300 digits).
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS
_ENTITY_TAG = re.compile(r'(W/)?("[^"]*")')
_ENCODED_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2"}
_CONDITIONAL_HEADERS = frozenset(
    (
        b"if-match",
        b"if-none-match",
        b"if-modified-since",
        b"if-unmodified-since",
        b"range",
        b"if-range",
    )
)
_TEXT = content_type_header("text/plain")
_OCTETS = b"application/octet-stream"
_PRECONDITION_FAILED = b"Precondition Failed"
_NOT_SATISFIABLE = b"Range Not Satisfiable"
_NOT_FOUND = b"Not Found"
_DISPOSITIONS = ("attachment", "inline")
# RFC 8187 attr-char: what may stay unencoded in ``filename*``.
_ATTR_CHARS = "!#$&+-.^_`|~"


# ---------------------------------------------------------------------------- pure helpers
def guess_media_type(name: str) -> str:
    """The media type for a file name; ``application/octet-stream`` when unknown.

    A compressed file (``.gz``, ``.bz2``) is sent as the archive it is: ``x.svgz`` served as
    ``image/svg+xml`` without ``Content-Encoding`` would be garbage to the browser.
    """
    media_type, encoding = mimetypes.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, "application/octet-stream")
    return media_type or "application/octet-stream"


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A ``Content-Disposition`` value; non-ASCII names get an RFC 6266 ``filename*``.

    ``filename`` keeps an ASCII fallback (``_`` for every other character) for old clients;
    control characters never reach the header in either form.
    """
    if disposition not in _DISPOSITIONS:
        raise ValueError(
            f"content_disposition_type must be 'attachment' or 'inline', not {disposition!r}"
        )
    printable = all(" " <= char <= "~" for char in filename)
    fallback = filename if printable else "".join(c if " " <= c <= "~" else "_" for c in filename)
    fallback = fallback.replace("\\", "\\\\").replace('"', '\\"')
    value = f'{disposition}; filename="{fallback}"'
    if not printable:
        value += "; filename*=UTF-8''" + quote(filename, safe=_ATTR_CHARS)
    return value


def _number(digits: str) -> int:
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else _HUGE


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Ranges as asked, or sorted and merged when some overlap (RFC 9110 14.2 allows it).

    APPSEC: overlapping ranges ("0-,0-,0-...") would make a small request produce a response
    many times the file's size; merged, a response is never larger than the file plus part
    headers.
    """
    if len(ranges) < 2:
        return ranges
    ordered = sorted(ranges)
    if all(later[0] > earlier[1] for earlier, later in itertools.pairwise(ordered)):
        return ranges  # disjoint: keep the order the client asked for
    merged = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def parse_range_header(header: str, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges (first, last inclusive) a ``Range`` header asks of a ``size``-byte file.

    ``None``: ignore the header and send the whole file (not ``bytes``, invalid syntax, more than
    ``MAX_RANGES`` ranges, an empty file). ``[]``: nothing satisfiable (416).
    """
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip(" \t").lower() != "bytes" or size <= 0:
        return None
    items = [item.strip(" \t") for item in spec.split(",")]
    items = [item for item in items if item]  # empty list elements are allowed (RFC 9110 5.6.1)
    if not items or len(items) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    for item in items:
        match = _RANGE_SPEC.fullmatch(item)
        if match is None:
            return None
        first_digits, last_digits = match.groups()
        if not first_digits:
            if not last_digits:
                return None  # a lone "-"
            suffix = _number(last_digits)  # the last N bytes
            if suffix > 0:
                ranges.append((max(size - suffix, 0), size - 1))
            continue
        first = _number(first_digits)
        last = _number(last_digits) if last_digits else _HUGE
        if last < first:
            return None  # an invalid range-spec makes the whole header invalid (RFC 9110 14.1.1)
        if first < size:
            ranges.append((first, min(last, size - 1)))
    return _coalesce(ranges)


def _http_date(value: str) -> int | None:
    """Seconds since the epoch for an HTTP-date, None when invalid (the header is then ignored)."""
    if len(value) > 64:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _etag_listed(header: str, etag: str, *, weak: bool) -> bool:
    """Whether ``etag`` (strong) is in an If-Match / If-None-Match list (RFC 9110 8.8.3.2)."""
    if header.strip(" \t") == "*":
        return True
    return any(
        tag == etag and (weak or not is_weak) for is_weak, tag in _ENTITY_TAG.findall(header)
    )


def evaluate_preconditions(
    method: str, headers: Mapping[str, str], etag: str, last_modified: int
) -> int | None:
    """412 or 304 when a conditional header says so, else None; the order of RFC 9110 13.2.2."""
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _etag_listed(if_match, etag, weak=False):
            return 412
    else:
        unmodified_since = headers.get("if-unmodified-since")
        if unmodified_since is not None:
            date = _http_date(unmodified_since)
            if date is not None and last_modified > date:
                return 412
    safe = method in ("GET", "HEAD")
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _etag_listed(if_none_match, etag, weak=True):
            return 304 if safe else 412
    elif safe:
        modified_since = headers.get("if-modified-since")
        if modified_since is not None:
            date = _http_date(modified_since)
            if date is not None and last_modified <= date:
                return 304
    return None


def _if_range_holds(value: str, etag: str, last_modified: int) -> bool:
    """If-Range: an entity tag must match strongly, a date exactly (RFC 9110 13.1.5)."""
    value = value.strip(" \t")
    if value.startswith(('"', "W/")):
        return value == etag
    return _http_date(value) == last_modified


def _conditional_headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        if name in _CONDITIONAL_HEADERS:
            key = name.decode("latin-1")
            # A repeated list header joins with commas; a repeated singleton keeps the first.
            if key in found and key in ("if-match", "if-none-match"):
                found[key] += ", " + value.decode("latin-1")
            else:
                found.setdefault(key, value.decode("latin-1"))
    return found


# ---------------------------------------------------------------------------- file work (threads)
def _stat_file(path: str) -> os.stat_result:
    try:
        result = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404) from None
    if not stat.S_ISREG(result.st_mode):
        raise HTTPError(404)
    return result


def _open_file(path: str) -> IO[bytes]:
    try:
        return open(path, "rb")  # closed by the plan that owns it
    except (FileNotFoundError, NotADirectoryError):
        raise HTTPError(404) from None  # removed between stat and open


def _read_at(file: IO[bytes], offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


def _read_ranges(path: str, ranges: list[tuple[int, int]]) -> list[bytes]:
    """Every range of a small file in one thread hop (open, read, close)."""
    with _open_file(path) as file:
        return [_read_at(file, start, end - start + 1) for start, end in ranges]


class FileChangedError(RuntimeError):
    """The file got shorter while it was being sent; the response is cut short."""


# ---------------------------------------------------------------------------- the response
class _Plan:
    """What one request gets: status, headers and which bytes (decided before anything is sent)."""

    __slots__ = (
        "body",
        "boundary",
        "data",
        "file",
        "headers",
        "length",
        "pathsend",
        "ranges",
        "size",
        "status",
    )

    def __init__(
        self, status: int, headers: RawHeaders, body: bytes = b"", length: int | None = None
    ) -> None:
        self.status = status
        self.size = 0  # the file's size, for Content-Range
        self.headers = headers  # all but Content-Length, which comes from length
        self.length = length
        self.body = body  # a fixed body (304/412/416/404), when ranges is None
        self.ranges: list[tuple[int, int]] | None = None
        self.boundary: bytes | None = None  # multipart/byteranges when set
        self.pathsend = False
        self.data: list[bytes] | None = None  # the ranges' bytes, read ahead for small files
        self.file: IO[bytes] | None = None

    def close(self) -> None:
        if self.file is not None:
            # Closing a file opened for reading does not wait on the disk: no thread needed.
            self.file.close()
            self.file = None


class FileResponse(BaseResponse):
    """A file from disk: ``FileResponse(path, media_type=None, filename=None)``.

    * the media type is guessed from ``filename`` or ``path`` when not given;
    * ``Content-Length``, ``Last-Modified``, a strong ``ETag`` (modification time and size, the
      same in every worker and after restarts) and ``Accept-Ranges: bytes``;
    * conditional requests: ``If-None-Match`` / ``If-Modified-Since`` -> 304, ``If-Match`` /
      ``If-Unmodified-Since`` -> 412;
    * ``Range`` on GET: one range -> 206, several -> 206 ``multipart/byteranges``, ``If-Range``
      honoured, nothing satisfiable -> 416 with ``Content-Range: bytes */size``; more than
      ``MAX_RANGES`` ranges or a malformed header -> the whole file; overlapping ranges merged;
    * ``filename`` adds ``Content-Disposition`` (``content_disposition_type="inline"`` to show
      rather than download);
    * the whole file goes out with ``http.response.pathsend`` when the server offers it, else in
      ``chunk_size`` pieces read in a worker thread (never the whole file in memory).

    A missing file answers 404. Conditional and range handling apply to status 200 only.
    """

    __slots__ = ("chunk_size", "path", "stat_result")

    def __init__(
        self,
        path: str | os.PathLike[str],
        media_type: str | None = None,
        filename: str | None = None,
        *,
        status_code: int = 200,
        headers: HeadersLike | None = None,
        content_disposition_type: str = "attachment",
        stat_result: os.stat_result | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        connection: Responder | None = None,
    ) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive number of bytes, not {chunk_size}")
        path = os.fspath(path)
        if media_type is None:
            media_type = guess_media_type(filename or path)
        super().__init__(status_code, headers, media_type, connection=connection)
        # http.response.pathsend requires an absolute path.
        self.path = os.path.abspath(path)
        self.stat_result = stat_result
        self.chunk_size = chunk_size
        if filename is not None:
            value = content_disposition(filename, content_disposition_type)
            self.raw_headers.append((b"content-disposition", value.encode("latin-1")))

    # -- planning ---------------------------------------------------------------
    async def _prepare(self, scope: Scope) -> _Plan:
        """Decide the answer, and open or read the file, before anything is sent.

        Raises HTTPError(404) while the response can still become a 404.
        """
        st = self.stat_result
        if st is None:
            st = await asyncio.to_thread(_stat_file, self.path)
        plan = self._plan(scope, st)
        plan.size = st.st_size
        if plan.ranges is None or scope.get("method") == "HEAD":
            return plan
        whole = plan.boundary is None and plan.status != 206
        if whole and PATHSEND in (scope.get("extensions") or {}):
            plan.pathsend = True
            return plan
        wanted = [end - start + 1 for start, end in plan.ranges]
        if sum(wanted) <= self.chunk_size:
            # PERF: a small file (or small ranges) is read in one thread hop.
            data = await asyncio.to_thread(_read_ranges, self.path, plan.ranges) if wanted else []
            if [len(chunk) for chunk in data] != wanted:
                raise FileChangedError(f"{self.path} got shorter after it was measured")
            plan.data = data
        else:
            plan.file = await asyncio.to_thread(_open_file, self.path)
        return plan

    def _plan(self, scope: Scope, st: os.stat_result) -> _Plan:
        size = st.st_size
        if self.status_code != 200:
            plan = _Plan(self.status_code, list(self.raw_headers), length=size)
            plan.ranges = [(0, size - 1)] if size else []
            return plan
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        mtime = int(st.st_mtime)
        last_modified = formatdate(mtime, usegmt=True)
        validators: RawHeaders = [
            (b"last-modified", last_modified.encode("latin-1")),
            (b"etag", etag.encode("latin-1")),
        ]
        method: str = scope.get("method", "GET")
        conditions = _conditional_headers(scope)
        if conditions:
            failed = evaluate_preconditions(method, conditions, etag, mtime)
            if failed == 304:
                # RFC 9110 15.4.5: the validators and cache headers, no content metadata.
                kept = [pair for pair in self.raw_headers if pair[0] != b"content-type"]
                return _Plan(304, validators + kept)
            if failed == 412:
                return _error_plan(412, _PRECONDITION_FAILED)
            range_header = conditions.get("range")
            # RFC 9110 14.2: GET is the only method for which range handling is defined.
            if range_header is not None and method == "GET":
                if_range = conditions.get("if-range")
                if if_range is None or _if_range_holds(if_range, etag, mtime):
                    ranges = parse_range_header(range_header, size)
                    if ranges is not None:
                        return self._range_plan(ranges, size, validators)
        plan = _Plan(
            200, [(b"accept-ranges", b"bytes"), *validators, *self.raw_headers], length=size
        )
        plan.ranges = [(0, size - 1)] if size else []
        return plan

    def _range_plan(
        self, ranges: list[tuple[int, int]], size: int, validators: RawHeaders
    ) -> _Plan:
        if not ranges:
            plan = _error_plan(416, _NOT_SATISFIABLE)
            plan.headers.append((b"content-range", b"bytes */%d" % size))
            return plan
        common: RawHeaders = [(b"accept-ranges", b"bytes"), *validators]
        if len(ranges) == 1:
            start, end = ranges[0]
            content_range = (b"content-range", b"bytes %d-%d/%d" % (start, end, size))
            plan = _Plan(206, [content_range, *common, *self.raw_headers], length=end - start + 1)
            plan.ranges = ranges
            return plan
        part_type = self._part_type()
        boundary = secrets.token_hex(16).encode("ascii")
        length = len(_closing(boundary)) + sum(
            len(_part_head(boundary, index, part_type, start, end, size)) + end - start + 1
            for index, (start, end) in enumerate(ranges)
        )
        headers: RawHeaders = [
            (b"content-type", b"multipart/byteranges; boundary=" + boundary),
            *common,
        ]
        headers += [(name, value) for name, value in self.raw_headers if name != b"content-type"]
        plan = _Plan(206, headers, length=length)
        plan.ranges = ranges
        plan.boundary = boundary
        return plan

    # -- sending ----------------------------------------------------------------
    async def _transmit(
        self,
        plan: _Plan,
        send: Send,
        head: bool,
        extra: RawHeaders | None,
        gone: asyncio.Event | None = None,
    ) -> None:
        await send(response_start(plan.status, plan.headers, extra, plan.length))
        ranges = plan.ranges
        if not sends_body(plan.status, head) or ranges is None:
            body = plan.body if sends_body(plan.status, head) else b""
            await send({"type": "http.response.body", "body": body})
            return
        if plan.pathsend:
            await send({"type": PATHSEND, "path": self.path})
            return
        boundary = plan.boundary
        file = plan.file
        if file is None:  # read ahead by _prepare
            data = plan.data or []
            if boundary is None:
                body = data[0] if data else b""
            else:
                body = self._multipart(boundary, ranges, data, plan.size)
            await send({"type": "http.response.body", "body": body})
            return
        for index, (start, end) in enumerate(ranges):
            if boundary is not None:
                part = _part_head(boundary, index, self._part_type(), start, end, plan.size)
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await self._stream_range(file, start, end, send, gone)
        closing = _closing(boundary) if boundary is not None else b""
        await send({"type": "http.response.body", "body": closing})

    async def _stream_range(
        self, file: IO[bytes], start: int, end: int, send: Send, gone: asyncio.Event | None
    ) -> None:
        offset, remaining = start, end - start + 1
        while remaining > 0:
            if gone is not None and gone.is_set():
                # Some servers (uvicorn) drop sends silently once the client left: stop
                # reading a large file nobody will receive.
                raise ClientDisconnect("the client disconnected during the file transfer")
            chunk = await asyncio.to_thread(_read_at, file, offset, min(self.chunk_size, remaining))
            if not chunk:
                raise FileChangedError(
                    f"{self.path} got shorter while it was being sent; the response was cut short"
                )
            offset += len(chunk)
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    def _part_type(self) -> bytes:
        return next((value for name, value in self.raw_headers if name == b"content-type"), _OCTETS)

    def _multipart(
        self, boundary: bytes, ranges: list[tuple[int, int]], data: list[bytes], size: int
    ) -> bytes:
        pieces: list[bytes] = []
        for index, ((start, end), chunk) in enumerate(zip(ranges, data, strict=True)):
            pieces.append(_part_head(boundary, index, self._part_type(), start, end, size))
            pieces.append(chunk)
        pieces.append(_closing(boundary))
        return b"".join(pieces)

    # -- sending ------------------------------------------------------------------
    needs_watcher = True

    async def emit(
        self,
        scope: Scope,
        send: Send,
        extra: RawHeaders | None = None,
        watcher: DisconnectWatcher | None = None,
    ) -> None:
        # Planned before anything is sent, so a missing file can still become a 404.
        plan = await self._prepare(scope)
        try:
            head = scope.get("method") == "HEAD"
            gone = watcher.gone if watcher is not None and plan.file is not None else None
            await self._transmit(plan, send, head, extra, gone)
        finally:
            plan.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except HTTPError as exc:
            # Used as an ASGI app, nobody else answers: the missing file is answered here.
            plan = _error_plan(exc.status_code, _NOT_FOUND)
            await self._transmit(plan, send, scope.get("method") == "HEAD", None)


def _error_plan(status: int, body: bytes) -> _Plan:
    return _Plan(status, [(b"content-type", _TEXT)], body, len(body))


def _part_head(
    boundary: bytes, index: int, content_type: bytes, start: int, end: int, size: int
) -> bytes:
    lead = b"--" if index == 0 else b"\r\n--"
    return (
        lead
        + boundary
        + b"\r\ncontent-type: "
        + content_type
        + (b"\r\ncontent-range: bytes %d-%d/%d\r\n\r\n" % (start, end, size))
    )


def _closing(boundary: bytes) -> bytes:
    return b"\r\n--" + boundary + b"--\r\n"
