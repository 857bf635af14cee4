"""``FileResponse``: a file from disk with validators, conditional requests and byte ranges.

The rules quoted beside the code come from RFC 9110 (validators 8.8, preconditions 13, ranges 14,
206 in 15.3.7, 416 in 15.5.17); the header parsing itself lives in :mod:`aaf.conditional`.

Blocking file work (stat, open, read) runs in worker threads; the event loop only sends.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
from email.utils import formatdate
from typing import IO, TYPE_CHECKING

from ._disconnect import DisconnectWatcher
from ._http import HeadersLike, start_message
from .conditional import (
    content_disposition,
    evaluate_preconditions,
    guess_media_type,
    parse_range_header,
)
from .conditional import if_range_holds as _if_range_holds
from .errors import ClientDisconnect, HTTPError
from .response import BaseResponse, Responder, content_type_header

if TYPE_CHECKING:
    from ._types import RawHeaders, Receive, Scope, Send

__all__ = ["FileChangedError", "FileResponse"]

DEFAULT_CHUNK_SIZE = 64 * 1024
PATHSEND = "http.response.pathsend"

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


# ---------------------------------------------------------------------------- request headers
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
        status_code: int | Responder = 200,
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
        opening, keep = start_message(plan.status, head, plan.headers, extra, plan.length)
        await send(opening)
        ranges = plan.ranges
        if not keep or ranges is None:
            await send({"type": "http.response.body", "body": plan.body if keep else b""})
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
