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

import asyncio
import io
import os
import re
import tempfile
from contextlib import aclosing
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeAlias

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, QuerystringParser

from ._http import HeaderParamError, parse_header_params
from .datastructures import Headers, MultiDict
from .errors import HTTPError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

    from .connection import Connection
    from .limits import Limits

__all__ = ["FormData", "UnsafeFilenameError", "UploadFile", "parse_form"]

FormValue: TypeAlias = "str | UploadFile"

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
# RFC 2046 5.1.1: a boundary is 1 to 70 of these characters, and does not end with a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MAX_BOUNDARY = 70
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Controls other than TAB, the ones a header value may not carry (as in _http.check_header_value).
_HEADER_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# os.open flags for save_to: never follow a symlink planted at the target name.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_COPY_CHUNK = 1024 * 1024


class UnsafeFilenameError(HTTPError, ValueError):
    """``UploadFile.save_to`` was given a name that is not a plain file name (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, detail)


def base_name(filename: str) -> str:
    """The last path component of a client's file name (``C:\\a\\b.txt`` -> ``b.txt``).

    Both separators count, since clients on Windows send backslashes. ``.`` and ``..`` (which
    name no file) become ``""``.
    """
    name = filename.replace("\\", "/").rpartition("/")[2]
    return "" if name in (".", "..") else name


# ---------------------------------------------------------------------------- containers
class UploadFile:
    """One uploaded file of a multipart form.

    Attributes:
        name: the form field name.
        filename: the client's ``filename`` parameter reduced to a base name (``None`` when the
            part only had ``filename*``, which RFC 7578 forbids and which is never decoded into
            ``filename``; the raw header stays in ``headers``).
        content_type: the part's Content-Type (``application/octet-stream`` if absent).
        headers: all headers of the part.
        size: bytes received.
    """

    __slots__ = ("_file", "_spool_size", "content_type", "filename", "headers", "name", "size")

    def __init__(
        self,
        name: str,
        filename: str | None,
        content_type: str = "application/octet-stream",
        headers: Headers | None = None,
        *,
        spool_size: int = 1024 * 1024,
    ) -> None:
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers if headers is not None else Headers()
        self.size = 0
        self._spool_size = spool_size
        self._file: IO[bytes] = io.BytesIO()

    def __repr__(self) -> str:
        return (
            f"UploadFile(name={self.name!r}, filename={self.filename!r}, "
            f"content_type={self.content_type!r}, size={self.size})"
        )

    @property
    def file(self) -> IO[bytes]:
        """The underlying binary file object (memory or an anonymous temporary file)."""
        return self._file

    @property
    def in_memory(self) -> bool:
        return isinstance(self._file, io.BytesIO)

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write_chunk(self, data: bytes) -> None:
        """Append received bytes, moving to a temporary file past the spool size."""
        self.size += len(data)
        file = self._file
        if self.size > self._spool_size and isinstance(file, io.BytesIO):
            # An anonymous file (no directory entry on POSIX): closing it frees the disk space,
            # and nothing is left behind even if the process dies.
            disk = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()/on_finish
            disk.write(file.getbuffer())
            file.close()
            self._file = file = disk
        # PERF: written inline, not in a thread: the parser hands over one received chunk
        # (tens of KiB) at a time, and a page-cache write of that size costs less than a
        # thread hop.
        file.write(data)

    async def read(self, size: int = -1) -> bytes:
        """Read up to ``size`` bytes (all the rest by default)."""
        if self.in_memory:
            return self._file.read(size)
        return await asyncio.to_thread(self._file.read, size)

    async def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    async def close(self) -> None:
        self.close_now()

    def close_now(self) -> None:
        """Close (and so delete) the file; safe to call more than once."""
        self._file.close()

    async def save_to(
        self, directory: str | os.PathLike[str], name: str | None = None, *, overwrite: bool = False
    ) -> Path:
        """Copy the upload into ``directory`` as ``name`` (default: ``filename``); returns the path.

        ``name`` must be a plain file name: no path separators, not ``.``/``..``, no control
        characters, at most 255 bytes (:class:`UnsafeFilenameError`, a 400, otherwise). The
        client's ``filename`` (used when ``name`` is not given) must also not be a hidden file
        (``.htaccess``), contain ``:``, be a Windows device name (``CON``, ``nul.txt``...) or
        end with a dot or a space; pass ``name=`` to choose the name yourself. The file is
        created inside ``directory`` and never through a symlink; an existing file is kept
        unless ``overwrite=True`` (409 otherwise).
        """
        if name is None:
            target_name = _check_client_name(_check_plain_name(self.filename))
        else:
            target_name = _check_plain_name(name)
        return await asyncio.to_thread(self._save, Path(directory), target_name, overwrite)

    def _save(self, directory: Path, name: str, overwrite: bool) -> Path:
        root = directory.resolve(strict=True)
        if not root.is_dir():
            raise NotADirectoryError(f"save_to needs an existing directory, not {directory}")
        target = root / name
        # APPSEC: the name has no separators, so its parent is root; this re-check guards
        # against a platform treating some other character as a separator.
        if target.parent != root:
            raise UnsafeFilenameError("the file name would leave the upload directory")
        flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | _CLOEXEC
        flags |= os.O_TRUNC if overwrite else os.O_EXCL
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            raise HTTPError(409, f"a file named {name!r} already exists") from None
        except OSError as exc:
            if target.is_symlink():
                raise UnsafeFilenameError("the target name is a symbolic link") from exc
            raise
        source = self._file
        position = source.tell()
        try:
            source.seek(0)
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(_COPY_CHUNK):
                    out.write(chunk)
        finally:
            source.seek(position)
        return target


def _check_plain_name(name: str | None) -> str:
    if not name or name in (".", ".."):
        raise UnsafeFilenameError("the upload has no usable file name; pass name=... to save_to")
    if "/" in name or "\\" in name or _CONTROL.search(name) is not None:
        raise UnsafeFilenameError(
            f"{name!r} is not a plain file name (no '/', '\\' or control characters)"
        )
    if len(name.encode("utf-8", "surrogateescape")) > 255:
        raise UnsafeFilenameError("the file name is longer than 255 bytes")
    return name


# Names Windows gives to devices, whatever the extension (CON.txt is the console too).
_WINDOWS_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [
        f"{port}{n}"
        for port in ("COM", "LPT")
        for n in [*"0123456789", "\u00b9", "\u00b2", "\u00b3"]
    ]
)


def _check_client_name(name: str) -> str:
    """Refuse client file names that are plain but still risky to write as they are."""
    # APPSEC: a hidden name can be server configuration (.htaccess, .user.ini) in a served
    # directory; ':' is a drive or an NTFS stream, device names open devices, and trailing dots
    # or spaces are dropped by Windows (so "a.php." becomes "a.php").
    reason = None
    if name.startswith("."):
        reason = "starts with '.' (a hidden file such as .htaccess)"
    elif ":" in name:
        reason = "contains ':' (a drive or an NTFS stream on Windows)"
    elif name.partition(".")[0].rstrip(" ").upper() in _WINDOWS_DEVICES:
        reason = "is a Windows device name"
    elif name[-1] in ". ":
        reason = "ends with a dot or a space (which Windows drops)"
    if reason is not None:
        raise UnsafeFilenameError(
            f"the upload's file name {name!r} {reason}; pass name=... to save_to to choose one"
        )
    return name


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
async def parse_form(conn: Connection) -> FormData:
    """Parse ``conn``'s body as a form (what ``conn.form()`` calls); 415 for other types."""
    content_type = conn.req_headers.get("content-type") or ""
    try:
        media, params = parse_header_params(content_type)
    except HeaderParamError as exc:
        raise HTTPError(400, f"invalid Content-Type: {exc}") from None
    limits = conn.limits
    if media == URLENCODED:
        return await _parse_urlencoded(conn, limits)
    if media == MULTIPART:
        return await _parse_multipart(conn, limits, params.get("boundary"))
    raise HTTPError(415, f"Content-Type must be {URLENCODED} or {MULTIPART}")


def _decode(data: bytes | bytearray) -> str:
    # Same rule as query strings: UTF-8, undecodable bytes replaced (never an error).
    return bytes(data).decode("utf-8", "replace")


async def _parse_urlencoded(conn: Connection, limits: Limits) -> FormData:
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
    async with aclosing(conn.stream_body(limits.body)) as chunks:
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


async def _parse_multipart(conn: Connection, limits: Limits, boundary: str | None) -> FormData:
    reader = _MultipartReader(limits)
    parser = MultipartParser(
        _boundary(boundary),
        callbacks=reader.callbacks(),
        max_header_count=limits.part_headers,
        max_header_size=limits.part_header_size,
    )
    # Registered before reading, so the files are closed however the request ends.
    conn.on_finish(reader.close_all)
    try:
        async with aclosing(conn.stream_body(limits.multipart)) as chunks:
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
