"""``StaticFiles``: a directory served under a prefix.

    router.mount("/static", StaticFiles("static"), name="static")

APPSEC: the request path is checked segment by segment (no ``..``, ``.``, backslashes, NUL or
other control characters, ``:`` as in drive letters and NTFS streams, and no hidden names such
as ``.env`` or ``.git/`` unless ``allow_dotfiles=True``), joined under the root, resolved
(symlinks followed) and then checked again to lie inside the root (and, below it, to name no
hidden file). Every refusal answers exactly like a missing file, so a probe learns nothing
about what exists.
"""

from __future__ import annotations

import asyncio
import os
import stat
from typing import TYPE_CHECKING
from urllib.parse import quote

from ._http import encode_query
from .files import DEFAULT_CHUNK_SIZE, FileResponse
from .response import PlainTextResponse, RedirectResponse

if TYPE_CHECKING:
    from ._types import Receive, Scope, Send

__all__ = ["StaticFiles"]

_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_MAX_PATH = 4096
_MAX_SEGMENTS = 64
_ALLOW = [(b"allow", b"GET, HEAD"), (b"content-length", b"0")]


def _segments(path: str, allow_dotfiles: bool) -> list[str] | None:
    """The path's segments, or None when the path is refused."""
    if len(path) > _MAX_PATH or "\\" in path:
        return None
    segments = [segment for segment in path.split("/") if segment]
    if len(segments) > _MAX_SEGMENTS:
        return None
    for segment in segments:
        if segment in (".", "..") or ":" in segment or any(c < " " or c == "\x7f" for c in segment):
            return None
        # APPSEC: hidden files are what a site directory should not publish (.env, .git/,
        # .htpasswd) but often holds.
        if segment[0] == "." and not allow_dotfiles:
            return None
    return segments


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _hidden_below(path: str, root: str) -> bool:
    """Whether ``path`` (inside ``root``) is, or is under, a hidden name below ``root``."""
    return any(part[0] == "." for part in path[len(root) + 1 :].split(os.sep) if part)


class _Found:
    """A lookup's answer: a file to send (with its status), a redirect, or nothing."""

    __slots__ = ("path", "redirect", "stat", "status")

    def __init__(
        self,
        path: str = "",
        st: os.stat_result | None = None,
        *,
        status: int = 200,
        redirect: bool = False,
    ) -> None:
        self.path = path
        self.stat = st
        self.status = status
        self.redirect = redirect


class StaticFiles:
    """An ASGI app serving the files under ``directory`` (GET and HEAD).

    * ``html=True``: a directory serves its ``index.html`` (a directory URL without its trailing
      slash is redirected to it first, so relative links work), and a ``404.html`` at the root
      is the page for every miss;
    * ``follow_symlinks=True``: symlinks may point outside the root (off by default: a link
      leaving the root is refused like a missing file);
    * ``allow_dotfiles=True``: serve hidden files and directories (``.well-known/``...); off
      by default, they answer like a missing file, also when reached through a symlink;
    * files are sent with :class:`~aaf.files.FileResponse` (ETag, conditional requests, ranges,
      ``http.response.pathsend``).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        html: bool = False,
        follow_symlinks: bool = False,
        allow_dotfiles: bool = False,
        check_dir: bool = True,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        # Resolved once: every request's resolved path is compared against this.
        self.directory = os.path.realpath(directory)
        self.html = html
        self.follow_symlinks = follow_symlinks
        self.allow_dotfiles = allow_dotfiles
        self.chunk_size = chunk_size
        if check_dir and not os.path.isdir(self.directory):
            raise ValueError(
                f"StaticFiles directory {os.fspath(directory)!r} does not exist or is not a "
                "directory; create it, fix the path, or pass check_dir=False"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000, "reason": ""})
            return  # lifespan: nothing to start (returning says "not supported")
        if scope["method"] not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405, "headers": _ALLOW})
            await send({"type": "http.response.body", "body": b""})
            return
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        relative = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        found = await asyncio.to_thread(self.lookup, relative)
        if found.redirect:
            full = path if not root_path or path.startswith(root_path) else root_path + path
            location = quote(full, safe=_PATH_SAFE) + "/"
            query = scope.get("query_string", b"")
            if query:
                # The same encoding as the app's trailing-slash redirect: a control byte in
                # the query cannot break the Location header.
                location += "?" + encode_query(query)
            await RedirectResponse(location, 307)(scope, receive, send)
        elif found.stat is not None:
            response = FileResponse(
                found.path,
                status_code=found.status,
                stat_result=found.stat,
                chunk_size=self.chunk_size,
            )
            await response(scope, receive, send)
        else:
            await PlainTextResponse("Not Found", 404)(scope, receive, send)

    # -- lookup (runs in a worker thread) -------------------------------------------
    def lookup(self, relative: str) -> _Found:
        """What ``relative`` (the decoded path below the mount) maps to."""
        segments = _segments(relative, self.allow_dotfiles)
        if segments is not None:
            found = self._find(segments, relative.endswith("/"))
            if found is not None:
                return found
        if self.html:
            page = self._regular_file(os.path.join(self.directory, "404.html"))
            if page is not None:
                page.status = 404
                return page
        return _Found()

    def _find(self, segments: list[str], trailing_slash: bool) -> _Found | None:
        candidate = os.path.join(self.directory, *segments)
        resolved = self._resolve(candidate)
        if resolved is None:
            return None
        try:
            st = os.stat(resolved)
        except OSError:
            return None
        if stat.S_ISREG(st.st_mode):
            # "file.txt/" names a directory that does not exist.
            return None if trailing_slash else _Found(resolved, st)
        if stat.S_ISDIR(st.st_mode) and self.html:
            if not trailing_slash:
                return _Found(redirect=True)
            return self._regular_file(os.path.join(resolved, "index.html"))
        return None

    def _resolve(self, candidate: str) -> str | None:
        """The real path of ``candidate``, or None when it leaves the root (or, without
        ``allow_dotfiles``, is a hidden file below it, e.g. through a symlink)."""
        resolved = os.path.realpath(candidate)
        inside = _inside(resolved, self.directory)
        if not self.allow_dotfiles and inside and _hidden_below(resolved, self.directory):
            return None
        if self.follow_symlinks:
            # The segments hold no "..", so the unresolved path is inside the root by
            # construction; links inside it may point anywhere (that is the option).
            return resolved
        return resolved if inside else None

    def _regular_file(self, candidate: str) -> _Found | None:
        resolved = self._resolve(candidate)
        if resolved is None:
            return None
        try:
            st = os.stat(resolved)
        except OSError:
            return None
        return _Found(resolved, st) if stat.S_ISREG(st.st_mode) else None
