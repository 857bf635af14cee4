"""Response compression: gzip always; brotli and zstd when their packages are installed.

    aaf([router], middleware=[Middleware(CompressionMiddleware, minimum_size=500)])

The encoding is the client's preference by ``Accept-Encoding`` q-value, ties going to the
server's order (zstd, br, gzip by default). A response sent in one message is compressed whole
(and left as is when that does not make it smaller); a streamed response (SSE, generators,
files) is compressed chunk by chunk and every chunk is flushed at once, so nothing is held back.
Responses already encoded, ranges (206), bodiless statuses, ``Cache-Control: no-transform``,
HEAD requests and content types outside ``content_types`` pass through untouched.
"""

from __future__ import annotations

import importlib
import re
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from ._common import with_vary

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "CompressionMiddleware",
    "available_encodings",
    "choose_encoding",
]

DEFAULT_CONTENT_TYPES = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/x-ndjson",
    "application/javascript",
    "application/xml",
    "application/*+xml",
    "application/wasm",
    "image/svg+xml",
)
_VARY = b"Accept-Encoding"
# RFC 9110 12.4.2 qvalue: 0 to 1 with up to three decimals.
_QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")
_CACHE_LIMIT = 256


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


_brotli = _optional("brotli")
_zstd = _optional("zstandard")


def available_encodings() -> tuple[str, ...]:
    """The encodings this installation can produce, in the default order of preference."""
    found = []
    if _zstd is not None:
        found.append("zstd")
    if _brotli is not None:
        found.append("br")
    found.append("gzip")
    return tuple(found)


def choose_encoding(accept_encoding: str, offered: Iterable[str]) -> str | None:
    """The best of ``offered`` (server order) for an ``Accept-Encoding`` value, or None.

    A coding the client does not list is acceptable only through ``*``; ``q=0`` refuses it.
    """
    weights: dict[str, float] = {}
    star: float | None = None
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip(" \t").lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip(" \t").lower() == "q":
                value = value.strip(" \t")
                weight = float(value) if _QVALUE.fullmatch(value) else 0.0
        if name == "x-gzip":
            name = "gzip"  # RFC 9110 8.4.1.3: an alias
        if name == "*":
            star = weight
        else:
            weights.setdefault(name, weight)
    best, best_weight = None, 0.0
    for coding in offered:
        weight = weights.get(coding, star if star is not None else 0.0)
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


class _Stream:
    """One streamed response's compressor: every chunk comes out flushed."""

    __slots__ = ("_finish", "_flush")

    def __init__(self, flush: Callable[[bytes], bytes], finish: Callable[[], bytes]) -> None:
        self._flush = flush
        self._finish = finish

    def chunk(self, data: bytes) -> bytes:
        return self._flush(data)

    def finish(self) -> bytes:
        return self._finish()


class CompressionMiddleware:
    """Compress responses the client accepts compressed.

    Args:
        minimum_size: bodies smaller than this (bytes) are sent as they are.
        content_types: media types worth compressing; ``type/*`` and ``type/*+suffix`` patterns.
        encodings: the codings to offer, in the server's order of preference.
        gzip_level, brotli_quality, zstd_level: speed/size trade-offs (defaults favour speed).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        minimum_size: int = 500,
        content_types: Iterable[str] = DEFAULT_CONTENT_TYPES,
        encodings: Iterable[str] | None = None,
        gzip_level: int = 6,
        brotli_quality: int = 4,
        zstd_level: int = 3,
    ) -> None:
        self.app = app
        self.minimum_size = minimum_size
        available = available_encodings()
        self.encodings = tuple(encodings) if encodings is not None else available
        for coding in self.encodings:
            if coding not in available:
                package = {"br": "brotli", "zstd": "zstandard"}.get(coding)
                hint = f"install {package} (aaf's 'compression' extra)" if package else ""
                raise ValueError(
                    f"compression encoding {coding!r} is not available; "
                    f"use {', '.join(available)}{' or ' + hint if hint else ''}"
                )
        self.gzip_level = gzip_level
        self.brotli_quality = brotli_quality
        self.zstd_level = zstd_level
        # PERF: one-shot zstd reuses one compressor (calls never interleave on one loop).
        self._zstd_one_shot = _zstd.ZstdCompressor(level=zstd_level) if _zstd else None
        self._exact: set[str] = set()
        self._patterns: list[tuple[str, str]] = []  # (prefix, suffix)
        for pattern in content_types:
            kind, star, rest = pattern.lower().partition("/*")
            if star:
                self._patterns.append((kind + "/", rest))
            else:
                self._exact.add(pattern.lower())
        # PERF: clients send a handful of distinct Accept-Encoding values; parse each once.
        self._choices: dict[bytes, str | None] = {}
        self._compressible: dict[bytes, bool] = {}

    # -- decisions ----------------------------------------------------------------
    def encoding_for(self, accept_encoding: bytes) -> str | None:
        choice = self._choices.get(accept_encoding, "")
        if choice == "":
            choice = choose_encoding(accept_encoding.decode("latin-1"), self.encodings)
            if len(self._choices) < _CACHE_LIMIT:
                self._choices[accept_encoding] = choice
        return choice

    def compressible(self, content_type: bytes) -> bool:
        known = self._compressible.get(content_type)
        if known is None:
            media = content_type.decode("latin-1").partition(";")[0].strip().lower()
            known = media in self._exact or any(
                media.startswith(prefix) and media.endswith(suffix)
                for prefix, suffix in self._patterns
            )
            if len(self._compressible) < _CACHE_LIMIT:
                self._compressible[content_type] = known
        return known

    def compress(self, coding: str, body: bytes) -> bytes:
        if coding == "gzip":
            return zlib.compress(body, self.gzip_level, wbits=31)
        if coding == "br":
            return bytes(_brotli.compress(body, quality=self.brotli_quality))
        return bytes(self._zstd_one_shot.compress(body))  # type: ignore[union-attr]

    def stream(self, coding: str) -> _Stream:
        if coding == "gzip":
            gz = zlib.compressobj(self.gzip_level, zlib.DEFLATED, 31)
            return _Stream(lambda data: gz.compress(data) + gz.flush(zlib.Z_SYNC_FLUSH), gz.flush)
        if coding == "br":
            br = _brotli.Compressor(quality=self.brotli_quality)
            return _Stream(lambda data: br.process(data) + br.flush(), br.finish)
        zs = _zstd.ZstdCompressor(level=self.zstd_level).compressobj()
        block = _zstd.COMPRESSOBJ_FLUSH_BLOCK
        return _Stream(lambda data: zs.compress(data) + zs.flush(block), zs.flush)

    # -- the ASGI app ---------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding: str | None = None
        if scope["method"] != "HEAD":
            for name, value in scope["headers"]:
                if name == b"accept-encoding":
                    coding = self.encoding_for(value)
                    break
        if coding is None:
            await self.app(scope, receive, self.vary_only(send))
        else:
            await self.app(scope, receive, self.compressing(send, coding))

    def vary_only(self, send: Send) -> Send:
        """The response stays as it is, but says that it could have been compressed."""

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start" and self.eligible(message):
                message["headers"] = with_vary(message.get("headers", []), _VARY)
            await send(message)

        return send_with_vary

    def compressing(self, send: Send, coding: str) -> Send:
        held: Message | None = None  # the start message, until the first body message
        stream: _Stream | None = None
        passing = False

        async def send_compressed(message: Message) -> None:
            nonlocal held, stream, passing
            if passing:
                await send(message)
                return
            kind = message["type"]
            if kind == "http.response.early_hint":
                await send(message)  # a 103 before the response: nothing to compress
                return
            if kind == "http.response.start":
                passing = True
                if self.eligible(message):
                    message["headers"] = with_vary(message.get("headers", []), _VARY)
                    if not self.too_small(message):
                        held, passing = message, False
                        return
                await send(message)
                return
            if held is not None:
                start, held = held, None
                if kind != "http.response.body":  # pathsend: the file goes out as it is
                    passing = True
                    await send(start)
                    await send(message)
                    return
                if not message.get("more_body", False):
                    passing = True
                    await self.send_whole(start, message.get("body", b""), coding, send)
                    return
                start["headers"] = _encoded_headers(start["headers"], coding, None)
                await send(start)
                stream = self.stream(coding)
            active = cast(_Stream, stream)
            body: bytes = message.get("body", b"")
            more: bool = message.get("more_body", False)
            data = active.chunk(body) if body else b""
            if not more:
                data += active.finish()
            if data or not more:
                await send({"type": "http.response.body", "body": data, "more_body": more})

        return send_compressed

    def eligible(self, start: Message) -> bool:
        """Whether this response could be compressed (then it varies on Accept-Encoding)."""
        status: int = start["status"]
        if status < 200 or status in (204, 206, 304):
            return False
        content_type: bytes | None = None
        for name, value in start.get("headers", ()):
            if name == b"content-type":
                content_type = value
            elif (name == b"content-encoding" and value.strip().lower() != b"identity") or (
                name == b"cache-control" and b"no-transform" in value.lower()
            ):
                return False  # already encoded, or the sender forbids changes on the way
        return content_type is not None and self.compressible(content_type)

    def too_small(self, start: Message) -> bool:
        for name, value in start["headers"]:
            if name == b"content-length":
                return value.isdigit() and int(value) < self.minimum_size
        return False

    async def send_whole(self, start: Message, body: bytes, coding: str, send: Send) -> None:
        if len(body) >= self.minimum_size:
            compressed = self.compress(coding, body)
            if len(compressed) < len(body):
                start["headers"] = _encoded_headers(start["headers"], coding, len(compressed))
                await send(start)
                await send({"type": "http.response.body", "body": compressed})
                return
        await send(start)
        await send({"type": "http.response.body", "body": body})


def _encoded_headers(headers: RawHeaders, coding: str, length: int | None) -> RawHeaders:
    """Headers for the encoded body: new length (or none), Content-Encoding, a weak ETag."""
    result: RawHeaders = [(b"content-encoding", coding.encode("ascii"))]
    if length is not None:
        result.append((b"content-length", b"%d" % length))
    for name, value in headers:
        if name in (b"content-length", b"content-encoding", b"accept-ranges"):
            # Replaced above (content-encoding here can only be "identity"); byte ranges are
            # offered for the identity bytes, not for the encoded ones.
            continue
        if name == b"etag" and not value.startswith(b"W/"):
            # The encoded bytes differ from the identity ones: a strong tag would be a lie.
            value = b"W/" + value
        result.append((name, value))
    return result
