"""Uploaded files: :class:`UploadFile` (memory, then an anonymous temporary file) and
``save_to`` with its file-name safety checks.

The multipart parser (:mod:`aaf.forms`) creates the uploads; this module never reads a request.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import tempfile
from pathlib import Path
from typing import IO

from .datastructures import Headers
from .errors import HTTPError

__all__ = ["UnsafeFilenameError", "UploadFile", "base_name"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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
