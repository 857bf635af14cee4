"""Response objects: each turns into exactly the right ASGI messages.

``StreamingResponse`` (a body produced over time) lives in ``aaf.streaming``, files in
``aaf.files`` and event streams in ``aaf.sse``. Every response can be used three ways:

* returned from a handler (the connection sends it: ``conn.respond(response)``);
* awaited with a connection, the seed's way: ``await HttpResponse("hi", conn)``;
* called as an ASGI app: ``await response(scope, receive, send)``.

Responses know nothing of ``Connection``: they turn into ASGI messages through a ``send``, with
the start message built by ``_http.start_message`` (the one place for the header rules).
"""

from __future__ import annotations

import re
from collections.abc import (
    Generator,
)
from typing import Any, ClassVar, Protocol, Unpack, overload, runtime_checkable
from urllib.parse import quote

from . import _json
from ._disconnect import DisconnectWatcher
from ._http import (
    HeadersLike,
    check_header_value,
    encode_headers,
    start_message,
)
from ._types import Message, RawHeaders, Receive, Scope, Send
from .cookies import CookieOptions, build_set_cookie
from .datastructures import MutableHeaders
from .errors import ClientDisconnect

__all__ = [
    "BaseResponse",
    "HtmlResponse",
    "HttpResponse",
    "JsonResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Responder",
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
# PERF: the (name, value) pairs of common types, built once rather than per response.
_PAIRS: dict[str, tuple[bytes, bytes]] = {}
_TEXT_PAIR = (b"content-type", _TEXT)
_OCTETS_PAIR = (b"content-type", _OCTETS)


def content_type_pair(media_type: str) -> tuple[bytes, bytes]:
    """The Content-Type header pair for ``media_type`` (bounded cache, as above)."""
    pair = _PAIRS.get(media_type)
    if pair is None:
        pair = (b"content-type", content_type_header(media_type))
        if len(_PAIRS) < 512:
            _PAIRS[media_type] = pair
    return pair


@runtime_checkable
class Responder(Protocol):
    """What a response needs of a connection to be awaited the seed's way,
    ``await HttpResponse("hi", conn)``: the connection sends it (``Connection.respond``)."""

    scope: Scope

    async def respond(self, result: Any, /) -> None: ...


def _status_and_connection(
    status_code: Any, connection: Responder | None
) -> tuple[int, Responder | None]:
    """The status, and the connection when one was given in the status's place
    (``StreamingResponse(body, conn)``, as the seed awaits responses).

    A second positional that is not an int (or ``HTTPStatus``), None or a connection is a
    mistake: ``HttpResponse("x", "201")`` is refused now rather than sent as a silent 200.
    """
    if isinstance(status_code, int) and not isinstance(status_code, bool):
        status = int(status_code)
    elif status_code is None:  # the article's HttpResponse(body, None): no connection
        status = 200
    elif isinstance(status_code, Responder):
        if connection is not None:
            raise TypeError("the connection is given twice (positionally and as connection=)")
        status, connection = 200, status_code
    else:
        raise TypeError(
            f"status_code must be an int such as 200 (or the connection, as in "
            f"HttpResponse(body, conn)), not {status_code!r}"
        )
    if not 100 <= status <= 599:
        raise ValueError(f"status_code must be in 100..599, not {status}")
    return status, connection


def with_default_type(raw: RawHeaders, content_type: bytes | None) -> RawHeaders:
    """Keep the caller's Content-Type header if there is one; else add ``content_type``."""
    if content_type is not None and not any(name == b"content-type" for name, _ in raw):
        raw.append((b"content-type", content_type))
    return raw


class BaseResponse:
    """A status, headers (the Content-Type among them) and a way to emit the body.

    Subclasses implement :meth:`emit`. A response is also an ASGI app
    (``await response(scope, receive, send)``) and, the seed's way, awaitable when it was built
    with a connection: ``await HttpResponse("hi", conn)``.
    """

    __slots__ = ("_connection", "raw_headers", "status_code")

    #: The Content-Type used when none is given (None: decided by the subclass).
    default_media_type: ClassVar[str | None] = None
    #: Whether sending needs to learn of a client that left (a body produced over time).
    needs_watcher: ClassVar[bool] = False

    def __init__(
        self,
        status_code: int | Responder = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
        *,
        connection: Responder | None = None,
    ) -> None:
        self.status_code, self._connection = _status_and_connection(status_code, connection)
        # APPSEC: headers are validated when the response is built, so a CR/LF never reaches
        # http.response.start; the handler's error becomes a logged 500 instead.
        self.raw_headers: RawHeaders = encode_headers(headers) if headers else []
        media_type = media_type or self.default_media_type
        if media_type:
            with_default_type(self.raw_headers, content_type_header(media_type))

    @property
    def media_type(self) -> str | None:
        for name, value in self.raw_headers:
            if name == b"content-type":
                return value.decode("latin-1")
        return None

    @property
    def headers(self) -> MutableHeaders:
        """A mutable, validating view of the headers (``resp.headers["content-type"] = ...``
        replaces the type)."""
        return MutableHeaders(self.raw_headers)

    def set_cookie(self, key: str, value: str = "", **options: Unpack[CookieOptions]) -> None:
        """Add a ``Set-Cookie`` header (options as for ``conn.put_resp_cookie``)."""
        cookie = build_set_cookie(key, value, **options)
        self.raw_headers.append((b"set-cookie", cookie.encode("latin-1")))

    def delete_cookie(self, key: str, *, path: str = "/", domain: str | None = None) -> None:
        self.set_cookie(key, "", max_age=0, expires=0, path=path, domain=domain)

    async def emit(
        self,
        scope: Scope,
        send: Send,
        extra: RawHeaders | None = None,
        watcher: DisconnectWatcher | None = None,
    ) -> None:
        """Send this response through ``send``.

        ``extra`` are headers put on the connection; ``watcher`` (given when ``needs_watcher``)
        tells a long body that the client left.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement emit()")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = None
        if self.needs_watcher and scope.get("method") != "HEAD":
            # Used as an ASGI app, nobody else reads this request: the watcher may take receive().
            watcher = DisconnectWatcher(receive)
        try:
            await self.emit(scope, send, None, watcher)
        except ClientDisconnect:
            pass  # nobody is listening any more
        finally:
            if watcher is not None:
                await watcher.stop()

    def __await__(self) -> Generator[Any, None, None]:
        if self._connection is None:
            raise TypeError(
                f"await {type(self).__name__}(...) needs the connection: "
                f"await {type(self).__name__}(body, conn), or return the response instead"
            )
        return self._connection.respond(self).__await__()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class HttpResponse(BaseResponse):
    """A response whose body is known up front (so it gets a Content-Length).

    Without a media type, a str body is ``text/plain; charset=utf-8`` and bytes are
    ``application/octet-stream``.
    """

    __slots__ = ("body",)

    @overload
    def __init__(
        self,
        body: Any = b"",
        status_code: int = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
        *,
        connection: Responder | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self,
        body: Any,
        connection: Responder,
        status_code: int = 200,
        headers: HeadersLike | None = None,
        /,
    ) -> None: ...
    def __init__(
        self,
        body: Any = b"",
        status_code: Any = 200,
        headers: Any = None,
        media_type: Any = None,
        *,
        connection: Responder | None = None,
    ) -> None:
        # PERF: written out rather than calling BaseResponse.__init__: this runs once per
        # request, and the common case (an int status, no headers) takes no other call.
        if type(status_code) is int and 100 <= status_code <= 599:
            self.status_code = status_code
            self._connection = connection
        else:
            if isinstance(status_code, Responder):
                # The seed article's order: HttpResponse(body, connection, status_code, headers).
                if connection is not None:
                    raise TypeError("the connection is given twice (positionally and by name)")
                connection = status_code
                status_code = 200 if headers is None else headers
                headers, media_type = media_type, None
            self.status_code, self._connection = _status_and_connection(status_code, connection)
        # An empty body (a redirect, a 204) gets no Content-Type unless one is asked for.
        if type(body) is str:
            self.body = body.encode()
            fallback: tuple[bytes, bytes] | None = _TEXT_PAIR if body else None
        elif type(body) is bytes:
            self.body = body
            fallback = _OCTETS_PAIR if body else None
        else:
            self.body = self.render(body)
            fallback = None
        if media_type is None:
            media_type = self.default_media_type
        pair = content_type_pair(media_type) if media_type else fallback
        if headers:
            self.raw_headers = encode_headers(headers)
            if pair is not None:
                with_default_type(self.raw_headers, pair[1])
        else:
            self.raw_headers = [pair] if pair is not None else []

    def render(self, body: Any) -> bytes:
        """Turn a body that is not str/bytes into bytes (subclasses override)."""
        if isinstance(body, bytearray | memoryview):
            return bytes(body)
        raise TypeError(
            f"{type(self).__name__} body must be str or bytes, not {type(body).__name__}; "
            "use JsonResponse for data"
        )

    async def emit(
        self,
        scope: Scope,
        send: Send,
        extra: RawHeaders | None = None,
        watcher: DisconnectWatcher | None = None,
    ) -> None:
        start, last = self.messages(scope.get("method") == "HEAD", extra)
        await send(start)
        await send(last)

    def messages(self, head: bool, extra: RawHeaders | None) -> tuple[Message, Message]:
        """The two ASGI messages of this response (PERF: no coroutine; the app sends them)."""
        body = self.body
        start, keep = start_message(self.status_code, head, self.raw_headers, extra, len(body))
        return start, {"type": "http.response.body", "body": body if keep else b""}


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
        status_code: int | Responder = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
        *,
        connection: Responder | None = None,
    ) -> None:
        status, connection = _status_and_connection(status_code, connection)
        super().__init__(_json.encode(data), status, headers, media_type, connection=connection)


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
        status_code: int | Responder = 307,
        headers: HeadersLike | None = None,
        *,
        connection: Responder | None = None,
    ) -> None:
        if isinstance(status_code, Responder):  # RedirectResponse(url, conn): still a 307
            connection, status_code = status_code, 307
        status, connection = _status_and_connection(status_code, connection)
        super().__init__(b"", status, headers, connection=connection)
        if not 300 <= self.status_code <= 399:
            raise ValueError(f"a redirect status is 3xx, not {self.status_code}")
        self.raw_headers.append((b"location", safe_location(url).encode("latin-1")))

    @property
    def url(self) -> str:
        return next(v for n, v in self.raw_headers if n == b"location").decode("latin-1")
