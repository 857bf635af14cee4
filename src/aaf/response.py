"""Response objects: each turns into exactly the right ASGI messages.

Every response can be used three ways:

* returned from a handler (the app sends it);
* awaited with a connection: ``await HttpResponse("hi", conn)``;
* called as an ASGI app: ``await response(scope, receive, send)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Generator,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any, ClassVar, Unpack
from urllib.parse import quote

from . import _json
from ._disconnect import DisconnectWatcher
from ._http import HeadersLike, check_header_value, encode_headers, status_has_no_body
from .cookies import CookieOptions, build_set_cookie
from .datastructures import MutableHeaders
from .errors import ClientDisconnect

if TYPE_CHECKING:
    from ._types import Message, RawHeaders, Receive, Scope, Send
    from .connection import Connection

__all__ = [
    "HtmlResponse",
    "HttpResponse",
    "JsonResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
]


def _with_charset(media_type: str) -> str:
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        return media_type + "; charset=utf-8"
    return media_type


# PERF: media type -> validated, encoded Content-Type value. Bounded, so a media type built
# from request data cannot grow it without limit.
_CONTENT_TYPES: dict[str, bytes] = {}


def content_type_header(media_type: str) -> bytes:
    """The Content-Type value for ``media_type`` (charset added to text/*), validated."""
    value = _CONTENT_TYPES.get(media_type)
    if value is None:
        full = _with_charset(media_type)
        check_header_value("content-type", full)
        value = full.encode("latin-1")
        if len(_CONTENT_TYPES) < 512:
            _CONTENT_TYPES[media_type] = value
    return value


_TEXT = content_type_header("text/plain")
_OCTETS = content_type_header("application/octet-stream")


def _split_conn(status_or_conn: int | Connection) -> tuple[int, Connection | None]:
    conn: Connection | None = None
    if isinstance(status_or_conn, int):  # also an IntEnum such as HTTPStatus.CREATED
        status = int(status_or_conn)
    else:
        status, conn = 200, status_or_conn
    if not 100 <= status <= 599:
        raise ValueError(f"status_code must be in 100..599, not {status}")
    return status, conn


class Response:
    """Base class: a status, headers and a way to emit the body.

    The second positional argument may be the connection instead of a status code, so that
    ``await HttpResponse("hi", conn)`` sends right away.
    """

    __slots__ = ("_conn", "content_type", "raw_headers", "status_code")

    #: The Content-Type used when none is given (None: decided by the subclass).
    default_media_type: ClassVar[str | None] = None

    def __init__(
        self,
        status_code: int | Connection = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code, self._conn = _split_conn(status_code)
        # APPSEC: headers are validated when the response is built, so a CR/LF never reaches
        # http.response.start; the handler's error becomes a logged 500 instead.
        self.raw_headers: RawHeaders = encode_headers(headers) if headers else []
        self.content_type: bytes | None = self._pick_content_type(media_type, None)

    def _pick_content_type(self, media_type: str | None, fallback: bytes | None) -> bytes | None:
        if self.raw_headers and any(n == b"content-type" for n, _ in self.raw_headers):
            return None  # the caller's own Content-Type header wins
        media_type = media_type or self.default_media_type
        return content_type_header(media_type) if media_type else fallback

    @property
    def media_type(self) -> str | None:
        return self.content_type.decode("latin-1") if self.content_type is not None else None

    @property
    def headers(self) -> MutableHeaders:
        """A mutable, validating view of the extra headers (``resp.headers["x-a"] = "b"``)."""
        return MutableHeaders(self.raw_headers)

    def set_cookie(self, key: str, value: str = "", **options: Unpack[CookieOptions]) -> None:
        """Add a ``Set-Cookie`` header (options as for ``conn.put_resp_cookie``)."""
        cookie = build_set_cookie(key, value, **options)
        self.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))

    def delete_cookie(self, key: str, *, path: str = "/", domain: str | None = None) -> None:
        self.set_cookie(key, "", max_age=0, expires=0, path=path, domain=domain)

    def start_headers(self, extra: RawHeaders | None, content_length: int | None) -> RawHeaders:
        """The header list for http.response.start: ours, the response's, the connection's."""
        headers: RawHeaders = []
        if content_length is not None and not status_has_no_body(self.status_code):
            headers.append((b"content-length", b"%d" % content_length))
        if self.content_type is not None:
            headers.append((b"content-type", self.content_type))
        if self.raw_headers:
            headers += self.raw_headers
        if extra:
            headers += extra
        return headers

    async def emit(self, send: Send, head: bool, extra: RawHeaders | None) -> None:
        """Send this response through ``send``; ``head`` drops the body, keeps the headers."""
        raise NotImplementedError

    async def send_to(self, conn: Connection) -> None:
        """Send this response on ``conn``, adding headers and cookies put on the connection."""
        extra = conn._begin_response(self.status_code, type(self).__name__)
        try:
            await self.emit(conn.asgi_send, conn.scope.get("method") == "HEAD", extra)
        finally:
            conn._mark_finished()  # even a failed stream cannot be restarted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.emit(send, scope.get("method") == "HEAD", None)

    def __await__(self) -> Generator[Any, None, None]:
        if self._conn is None:
            raise TypeError(
                f"await {type(self).__name__}(...) needs the connection as second argument: "
                f"await {type(self).__name__}(body, conn); or return the response instead"
            )
        return self.send_to(self._conn).__await__()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class HttpResponse(Response):
    """A response whose body is known up front (so it gets a Content-Length).

    Without a media type, a str body is ``text/plain; charset=utf-8`` and bytes are
    ``application/octet-stream``.
    """

    __slots__ = ("body",)

    #: Whether the app may send this type through ``messages()`` directly (PERF); a subclass
    #: that overrides ``emit`` or ``send_to`` is sent through them instead.
    _fast_path: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "emit" in cls.__dict__ or "send_to" in cls.__dict__:
            cls._fast_path = False

    def __init__(
        self,
        body: Any = b"",
        status_code: int | Connection = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
    ) -> None:
        # PERF: written out rather than calling Response.__init__: this runs once per request.
        if type(status_code) is int and 100 <= status_code <= 599:
            self.status_code = status_code
            self._conn = None
        else:
            self.status_code, self._conn = _split_conn(status_code)
        self.raw_headers = encode_headers(headers) if headers else []
        if type(body) is str:
            self.body = body.encode()
            fallback: bytes | None = _TEXT
        elif type(body) is bytes:
            self.body = body
            fallback = _OCTETS
        else:
            self.body = self.render(body)
            fallback = None
        if media_type is None and not self.raw_headers and self.default_media_type is None:
            self.content_type = fallback
        else:
            self.content_type = self._pick_content_type(media_type, fallback)

    def render(self, body: Any) -> bytes:
        """Turn a body that is not str/bytes into bytes (subclasses override)."""
        if isinstance(body, bytearray | memoryview):
            return bytes(body)
        raise TypeError(
            f"{type(self).__name__} body must be str or bytes, not {type(body).__name__}; "
            "use JsonResponse for data"
        )

    async def emit(self, send: Send, head: bool, extra: RawHeaders | None) -> None:
        start, last = self.messages(head, extra)
        await send(start)
        await send(last)

    def messages(self, head: bool, extra: RawHeaders | None) -> tuple[Message, Message]:
        """The two ASGI messages of this response (PERF: no coroutine; the app sends them)."""
        status = self.status_code
        body = self.body
        if status < 200 or status == 204 or status == 304:  # PERF: status_has_no_body inlined
            headers = self.start_headers(extra, None)
            body = b""
        else:
            headers = [(b"content-length", b"%d" % len(body))]
            if self.content_type is not None:
                headers.append((b"content-type", self.content_type))
            if self.raw_headers:
                headers += self.raw_headers
            if extra:
                headers += extra
        return (
            {"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": b"" if head else body},
        )


class PlainTextResponse(HttpResponse):
    __slots__ = ()
    default_media_type = "text/plain; charset=utf-8"


class HtmlResponse(HttpResponse):
    __slots__ = ()
    default_media_type = "text/html; charset=utf-8"


class JsonResponse(HttpResponse):
    """``data`` encoded with msgspec (dicts, lists, dataclasses, msgspec Structs, ...)."""

    __slots__ = ()
    default_media_type = "application/json"

    def __init__(
        self,
        data: Any,
        status_code: int | Connection = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(_json.encode(data), status_code, headers, media_type)


# Leading slashes/backslashes, and controls or spaces between them: browsers read any run of
# these at the start of a Location as "//" (scheme-relative, off-site).
_LEADING_SLASHES = re.compile(r"[/\\\x00-\x20]+")
_URL_SAFE = "/%:@!$&'()*+,;=-._~?#[]"


def safe_location(url: str) -> str:
    """A Location value that cannot go off-site unless ``url`` is explicitly absolute.

    ``//evil.com``, ``/\\evil.com``, ``/%2F/evil.com`` decoded into ``//evil.com`` and so on become
    same-site paths; ``https://other.example/`` stays as given (an explicit choice).
    """
    check_header_value("location", url)
    if url[:1] in ("/", "\\"):
        # APPSEC: a path-form target: collapse the leading run into one "/" and percent-encode
        # what browsers would re-interpret (backslashes, spaces, controls).
        return "/" + quote(_LEADING_SLASHES.sub("", url, count=1), safe=_URL_SAFE)
    return quote(url, safe=_URL_SAFE)


class RedirectResponse(HttpResponse):
    """A redirect (307 by default, which keeps the method and body)."""

    __slots__ = ()

    def __init__(
        self,
        url: str,
        status_code: int | Connection = 307,
        headers: HeadersLike | None = None,
    ) -> None:
        super().__init__(b"", status_code, headers)
        if not isinstance(status_code, int):
            self.status_code = 307  # RedirectResponse(url, conn): the redirect's own default
        if not 300 <= self.status_code <= 399:
            raise ValueError(f"a redirect status is 3xx, not {self.status_code}")
        self.content_type = None
        self.raw_headers.append((b"location", safe_location(url).encode("latin-1")))

    @property
    def url(self) -> str:
        return dict(self.raw_headers)[b"location"].decode("latin-1")


Content = str | bytes
_DONE = object()


def _next_or_done(iterator: Iterator[Any]) -> object:
    return next(iterator, _DONE)


def _close_iterator(iterator: Iterator[Any]) -> None:
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


async def iterate(content: Iterable[Any] | AsyncIterable[Any]) -> AsyncGenerator[Any, None]:
    """Items of a sync or async iterable; a sync iterator's steps run in worker threads."""
    if isinstance(content, AsyncIterable):
        async for item in content:
            yield item
        return
    if isinstance(content, list | tuple):
        for item in content:
            yield item
        return
    # A sync iterator may block (files, sockets, sleep): each step runs in a worker thread
    # so the event loop keeps serving other connections.
    iterator: Iterator[Any] = iter(content)
    step: asyncio.Future[object] | None = None
    try:
        while True:
            step = asyncio.ensure_future(asyncio.to_thread(_next_or_done, iterator))
            # Shielded: a cancelled stream must not abandon a step still running in its thread.
            item = await asyncio.shield(step)
            if item is _DONE:
                return
            yield item
    finally:
        if step is not None and not step.done():
            # A thread cannot be interrupted: close the iterator (running its finally blocks)
            # as soon as its current step returns.
            step.add_done_callback(lambda _: _close_iterator(iterator))
        else:
            _close_iterator(iterator)


class StreamingResponse(Response):
    """A body produced by a sync or async iterable of str/bytes, sent chunk by chunk.

    When the client disconnects, the iteration stops at once: an async generator gets
    ``CancelledError`` at its current ``await`` (its ``finally`` blocks run before the handler
    returns); a sync iterator is closed after its current step.
    """

    __slots__ = ("content",)

    default_media_type = "application/octet-stream"

    def __init__(
        self,
        content: Iterable[Content] | AsyncIterable[Content],
        status_code: int | Connection = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(status_code, headers, media_type)
        self.content = content

    def body_chunks(self) -> AsyncGenerator[Content, None]:
        """The body as it is produced (subclasses such as EventSourceResponse frame it)."""
        return iterate(self.content)

    async def emit(self, send: Send, head: bool, extra: RawHeaders | None) -> None:
        await self._stream(send, head, extra, None)

    async def send_to(self, conn: Connection) -> None:
        head = conn.scope.get("method") == "HEAD"
        # Before the response is claimed, so a too-large unread body can still get its 413.
        watcher = None if head else await conn.disconnect_watcher_if_possible()
        extra = conn._begin_response(self.status_code, type(self).__name__)
        try:
            await self._stream(conn.asgi_send, head, extra, watcher)
        finally:
            conn._mark_finished()  # even a failed stream cannot be restarted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope.get("method") == "HEAD"
        # Used as an ASGI app, nobody else reads this request: the watcher may drop its body.
        watcher = None if head else DisconnectWatcher(receive)
        try:
            await self._stream(send, head, None, watcher)
        finally:
            if watcher is not None:
                await watcher.stop()

    async def _stream(
        self, send: Send, head: bool, extra: RawHeaders | None, watcher: DisconnectWatcher | None
    ) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.start_headers(extra, None),
            }
        )
        if head:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if watcher is None:
            await self._send_body(send)
            return
        # The body is produced in a task of its own so that a disconnect can cancel it wherever
        # it waits (an idle event stream may wait for minutes); the content's finally blocks
        # run before this returns. A client that left needs nothing more.
        with contextlib.suppress(ClientDisconnect):
            await watcher.run(self._send_body(send), None)

    async def _send_body(self, send: Send) -> None:
        chunks = self.body_chunks()
        try:
            async for chunk in chunks:
                if isinstance(chunk, str):
                    data = chunk.encode()
                elif isinstance(chunk, bytes | bytearray | memoryview):
                    data = bytes(chunk)
                else:
                    raise TypeError(
                        f"{type(self).__name__} content yielded {type(chunk).__name__}; yield "
                        "str or bytes (or use EventSourceResponse, which encodes data)"
                    )
                if data:
                    try:
                        await send({"type": "http.response.body", "body": data, "more_body": True})
                    except OSError as exc:
                        # Servers raise an OSError from send() once the client is gone.
                        raise ClientDisconnect(
                            "the client disconnected during the response"
                        ) from exc
        finally:
            await chunks.aclose()
            closer = getattr(self.content, "aclose", None)
            if closer is not None:
                await closer()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
