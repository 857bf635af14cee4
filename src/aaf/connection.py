"""``Connection``: one object per HTTP request or WebSocket, wrapping scope/receive/send.

The request side is parsed lazily (nothing is decoded until asked for). The response side is a
small state machine - not started -> started -> finished - whose guards raise errors that say
what went wrong and how to fix it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload
from urllib.parse import quote, quote_from_bytes

from . import _json
from ._disconnect import DisconnectWatcher
from ._http import encode_header, encode_query, is_plain_host, status_has_no_body
from .background import BackgroundTask, run_tasks
from .cookies import CookieOptions, build_set_cookie, parse_cookie_header
from .datastructures import URL, Address, Headers, QueryParams
from .errors import BodyStateError, ClientDisconnect, HTTPError, ResponseStateError
from .limits import DEFAULT_LIMITS, Limits
from .websocket import RESPONSE_IS_WEBSOCKET, WebSocketMixin

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ._types import Message, RawHeaders, Receive, Scope, Send
    from .app import App
    from .forms import FormData
    from .middleware.auth import AuthUser
    from .routing import Route

__all__ = ["Connection", "ConnectionType"]

logger = logging.getLogger("aaf.error")

T = TypeVar("T")
D = TypeVar("D")


class ConnectionType(StrEnum):
    HTTP = "http"
    WEBSOCKET = "websocket"
    WebSocket = "websocket"  # an alias of WEBSOCKET: the seed article's spelling


# Response states.
NOT_STARTED = 0
STARTED = 1
FINISHED = 2

# Request body states.
_BODY_UNREAD = 0
_BODY_STREAMING = 1
_BODY_DONE = 2

_CONTENT_TYPE_BY_CHUNK = {
    str: b"text/plain; charset=utf-8",
    bytes: b"application/octet-stream",
}
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _media_type(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or any ``application/*+json`` (RFC 6839 structured suffix)."""
    if not content_type:
        return False
    media = _media_type(content_type)
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class Connection(WebSocketMixin):
    """One HTTP request or WebSocket; the raw ASGI pieces stay reachable.

    ``await other_app(conn.scope, conn.asgi_receive, conn.asgi_send)`` hands the connection to
    any other ASGI application. The WebSocket methods (``accept``, ``receive_text``,
    ``send_text``, ...) come from :class:`aaf.websocket.WebSocketMixin`.
    """

    # PERF: "_background" and "_watcher" (and the mixin's "_ws") are not set in __init__: only
    # requests that use them pay for them; they are read with getattr(..., None).
    __slots__ = (
        "_background",
        "_body",
        "_body_state",
        "_cookies",
        "_form",
        "_headers",
        "_on_finish",
        "_query",
        "_resp_headers",
        "_resp_state",
        "_watcher",
        "app",
        "asgi_receive",
        "asgi_send",
        "path_params",
        "received_bytes",
        "resp_status_code",
        "route",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, app: App | None = None) -> None:
        # PERF: only plain assignments here; every view is built on first use.
        self.scope = scope
        self.asgi_receive = receive
        self.asgi_send = send
        self.app = app
        self.route: Route | None = None
        self.path_params: dict[str, Any] = {}
        self.resp_status_code = 200
        self.received_bytes = 0
        self._resp_state = NOT_STARTED
        self._resp_headers: RawHeaders | None = None
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._body: bytes | None = None
        self._body_state = _BODY_UNREAD
        self._on_finish: list[Callable[[], Any]] | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.scope['type']} {self.method} {self.path!r}>"

    # ------------------------------------------------------------------ request side
    @property
    def type(self) -> ConnectionType:
        return ConnectionType(self.scope["type"])

    @property
    def method(self) -> str:
        # A WebSocket handshake is a GET; the scope has no method for it.
        method: str = self.scope.get("method", "GET")
        return method

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def req_headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self.scope["headers"])
        return self._headers

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self.scope.get("query_string", b""))
        return self._query

    @property
    def req_cookies(self) -> dict[str, str]:
        if self._cookies is None:
            # HTTP/2 may split cookies over several headers; they join with "; " (RFC 9113).
            header = "; ".join(self.req_headers.getlist("cookie"))
            self._cookies = parse_cookie_header(header) if header else {}
        return self._cookies

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @property
    def state(self) -> dict[str, Any]:
        """The lifespan state (what the lifespan context manager yielded)."""
        state = self.scope.get("state")
        if state is None:
            return self.app.state if self.app is not None else {}
        return state  # type: ignore[no-any-return]

    # What middleware puts in the scope; nothing is computed unless asked for.
    @property
    def session(self) -> dict[str, Any]:
        """The session dict (``SessionMiddleware``); changes are saved with the response."""
        try:
            session: dict[str, Any] = self.scope["session"]
        except KeyError:
            raise RuntimeError(
                "conn.session needs SessionMiddleware: aaf(..., middleware=[Middleware("
                "SessionMiddleware, secret_key=...)]) from aaf.middleware.sessions"
            ) from None
        return session

    @property
    def user(self) -> AuthUser | None:
        """The authenticated user (``JWTAuthMiddleware``), or None when anonymous."""
        user: AuthUser | None = self.scope.get("user")
        return user

    @property
    def request_id(self) -> str | None:
        """This request's ID (``RequestIdMiddleware``), or None without that middleware."""
        request_id: str | None = self.scope.get("request_id")
        return request_id

    def _first_header(self, name: bytes) -> bytes | None:
        """The first raw value of a lower-case header name.

        PERF: body readers use this instead of ``req_headers`` (no view object, no encoding).
        """
        for key, value in self.scope["headers"]:
            if key == name:
                return value  # type: ignore[no-any-return]
        return None

    @property
    def limits(self) -> Limits:
        """The limits in force for this connection: the route's over the app's over defaults."""
        if self.app is None:
            return DEFAULT_LIMITS.merged(self.route.limits if self.route else None)
        return self.app.limits_for(self.route)

    @property
    def url(self) -> URL:
        """The full request URL, built from scope parts.

        The host comes from the Host header only if it is a plain ``host[:port]``; otherwise,
        or if there are several Host headers, from the server address. The path and query come
        from the scope, never from a header.
        """
        scope = self.scope
        scheme: str = scope.get("scheme") or ("ws" if scope["type"] == "websocket" else "http")
        hosts = self.req_headers.getlist("host")
        if len(hosts) == 1 and is_plain_host(hosts[0]):
            netloc = hosts[0]
        else:
            server = scope.get("server")
            if server:
                host, port = server[0], server[1]
                if ":" in host:
                    host = f"[{host}]"
                default = _DEFAULT_PORTS.get(scheme)
                netloc = host if port is None or port == default else f"{host}:{port}"
            else:
                netloc = "localhost"
        raw_path = scope.get("raw_path")
        if raw_path:
            path = quote_from_bytes(raw_path, safe=_PATH_SAFE)
        else:
            path = quote(self.full_path, safe="/")
        query = encode_query(scope.get("query_string", b""))
        return URL.build(scheme=scheme, netloc=netloc, path=path, query=query)

    @property
    def full_path(self) -> str:
        """The decoded path including the mount prefix (``root_path``)."""
        path = self.path
        root = self.scope.get("root_path", "")
        return path if path.startswith(root) else root + path

    @property
    def route_path(self) -> str:
        """The decoded path below the mount prefix: what the router matches."""
        path = self.path
        root: str = self.scope.get("root_path", "")
        if root and path.startswith(root):
            return path[len(root) :] or "/"
        return path

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name`` with ``params``, including the mount prefix."""
        if self.app is None:
            raise RuntimeError("url_for needs the connection's app; build the app with aaf(...)")
        root: str = self.scope.get("root_path", "")
        return root + self.app.url_for(name, **params)

    # ------------------------------------------------------------------ end of request
    def on_finish(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` (sync or async) when the app is done with this connection.

        Callbacks run after the response (also after errors and disconnects), newest first, so
        resources opened while handling the request (temporary files...) are always released.
        Their errors are logged, never sent to the client.
        """
        if self._on_finish is None:
            self._on_finish = [callback]
        else:
            self._on_finish.append(callback)

    async def run_on_finish(self) -> None:
        callbacks, self._on_finish = self._on_finish or [], None
        cancelled: asyncio.CancelledError | None = None
        for callback in reversed(callbacks):
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError as exc:
                # The request is being cancelled (server shutdown, a client gone): still
                # release what the other callbacks hold, then let the cancellation go on.
                cancelled = exc
            except Exception:
                logger.exception("on_finish callback %r failed", callback)
        if cancelled is not None:
            raise cancelled

    def _begin_websocket(self, message_limit: int) -> None:
        super()._begin_websocket(message_limit)
        self._resp_state = RESPONSE_IS_WEBSOCKET  # HTTP response methods now refuse clearly

    # ------------------------------------------------------------------ background tasks
    def add_background(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run ``func(*args, **kwargs)`` (sync or async) after the response has been sent.

        See :mod:`aaf.background`: errors are logged with the route, tasks are dropped if the
        handler raises, and shutdown waits for running ones up to ``background_timeout``.
        """
        task = BackgroundTask(func, args, kwargs)
        tasks: list[BackgroundTask] | None = getattr(self, "_background", None)
        if tasks is None:
            self._background = [task]
            self.on_finish(self._run_background)
        else:
            tasks.append(task)

    def _drop_background(self, exc: BaseException) -> None:
        """The handler failed: its background tasks will not run (the app calls this)."""
        tasks: list[BackgroundTask] | None = getattr(self, "_background", None)
        if tasks:
            logger.warning(
                "dropping %d background task(s) of %s: the handler raised %s",
                len(tasks),
                self._where(),
                type(exc).__name__,
            )
            tasks.clear()

    def _where(self) -> str:
        route = self.route.name if self.route is not None else "no route"
        # repr() escapes control characters, so a hostile path cannot forge log lines.
        return f"{self.scope.get('method', 'WS')} {self.path!r} ({route})"

    async def _run_background(self) -> None:
        tasks: list[BackgroundTask] = self._background
        self._background = []
        if not tasks:
            return
        if self.app is None:
            await run_tasks(tasks, self._where())
        else:
            await self.app.background.run(tasks, self._where())

    # ------------------------------------------------------------------ client disconnects
    async def _disconnect_watcher(self) -> DisconnectWatcher:
        watcher = await self.disconnect_watcher_if_possible()
        if watcher is None:
            raise BodyStateError(
                "cannot watch for a disconnect while the request body is being streamed; "
                "finish reading it first (or call body() before)"
            )
        return watcher

    async def disconnect_watcher_if_possible(self) -> DisconnectWatcher | None:
        """The watcher of this request's ``http.disconnect``, started on first use.

        It reads ``receive()`` itself, so the request body is read (and kept for ``body()``)
        first. While a handler is still streaming the body it cannot start, and None is
        returned (then the body reader is the one that sees a disconnect).
        """
        watcher: DisconnectWatcher | None = getattr(self, "_watcher", None)
        if watcher is not None:
            return watcher
        if self.scope["type"] != "http":
            raise self._not_http("disconnect detection")
        if self._body_state == _BODY_STREAMING:
            return None
        receive: Receive | None = self.asgi_receive
        if self._body_state == _BODY_UNREAD:
            try:
                await self.body()
            except ClientDisconnect:
                receive = None  # gone already
        watcher = self._watcher = DisconnectWatcher(receive)
        self.on_finish(watcher.stop)
        return watcher

    async def wait_disconnect(self) -> None:
        """Return once the client has gone away (reads and keeps the body first, see body())."""
        watcher = await self._disconnect_watcher()
        await watcher.gone.wait()

    async def is_disconnected(self) -> bool:
        """Whether the server has reported the client gone (never blocks for long)."""
        watcher = await self._disconnect_watcher()
        return await watcher.check()

    @overload
    async def run_until_disconnect(self, work: Awaitable[T]) -> T | None: ...
    @overload
    async def run_until_disconnect(self, work: Awaitable[T], default: D) -> T | D: ...
    async def run_until_disconnect(self, work: Awaitable[Any], default: Any = None) -> Any:
        """``await work`` unless the client leaves first: then ``work`` is cancelled (its
        ``finally`` blocks run) and ``default`` is returned. Long work stops when nobody waits.
        """
        try:
            watcher = await self._disconnect_watcher()
        except BaseException:
            if inspect.iscoroutine(work):
                work.close()  # never started: close it rather than leak a "never awaited"
            raise
        return await watcher.run(work, default)

    # ------------------------------------------------------------------ request body
    def _declared_length(self, limit: int) -> int | None:
        raw = self._first_header(b"content-length")
        if raw is None:
            return None
        # APPSEC: ASCII digits only (bytes.isdigit): int() would accept "+5", " 5", "1_0" and
        # other scripts' digits.
        if not raw.isdigit():
            raise HTTPError(400, "invalid Content-Length header")
        # More than 19 digits fits no limit: no need to convert a huge digit run.
        if len(raw) > 19 or int(raw) > limit:
            raise HTTPError(413, f"request body is larger than the {limit}-byte limit")
        return int(raw)

    def _begin_body(self, limit: int) -> int | None:
        """Claim the body for one reader; returns the declared Content-Length, if any."""
        if self._body_state != _BODY_UNREAD:
            raise BodyStateError(
                "the request body was already read as a stream (body_iter() or a multipart "
                "form()), so it is gone; read it one way, or call body() first: it keeps the "
                "bytes, and json(), form() and body_iter() then reuse them"
            )
        declared = self._declared_length(limit)
        self._body_state = _BODY_STREAMING
        return declared

    def _take_chunk(self, message: Message, limit: int, declared: int | None) -> bytes:
        """Account for one receive() message; returns its body bytes."""
        kind = message["type"]
        if kind == "http.request":
            chunk: bytes = message.get("body", b"")
            received = self.received_bytes = self.received_bytes + len(chunk)
            more = message.get("more_body", False)
            # APPSEC: the declared length may lie; the received count is what is enforced,
            # and a body longer or shorter than it declared is a framing error.
            if declared is not None and (received > declared or (not more and received < declared)):
                self._body_state = _BODY_DONE
                raise HTTPError(400, "the request body does not match its Content-Length")
            if received > limit:
                self._body_state = _BODY_DONE
                raise HTTPError(413, f"request body is larger than the {limit}-byte limit")
            if not more:
                self._body_state = _BODY_DONE
            return chunk
        if kind == "http.disconnect":
            self._body_state = _BODY_DONE
            raise ClientDisconnect("the client disconnected while the body was being read")
        raise RuntimeError(f"unexpected ASGI message {kind!r} while reading the request body")

    async def stream_body(self, limit: int) -> AsyncGenerator[bytes, None]:
        """Body chunks with an explicit size limit (used by body parsers with their own cap)."""
        if self._body is not None:
            if len(self._body) > limit:
                raise HTTPError(413, f"request body is larger than the {limit}-byte limit")
            if self._body:
                yield self._body
            return
        declared = self._begin_body(limit)
        receive = self.asgi_receive
        while self._body_state == _BODY_STREAMING:
            chunk = self._take_chunk(await receive(), limit, declared)
            if chunk:
                yield chunk

    def body_iter(self) -> AsyncIterator[bytes]:
        """The request body as it arrives, chunk by chunk, within ``limits.max_body_size``.

        May be consumed once; after ``body()`` it replays the kept bytes instead.
        """
        return self.stream_body(self.limits.body)

    async def body(self) -> bytes:
        """The whole request body (kept, so later calls and ``json()`` reuse it)."""
        if self._body is not None:
            return self._body
        limit = self.limits.body
        declared = self._begin_body(limit)
        receive = self.asgi_receive
        # PERF: most bodies arrive in one message; join only when there are several.
        chunks: list[bytes] = []
        while self._body_state == _BODY_STREAMING:
            chunk = self._take_chunk(await receive(), limit, declared)
            if chunk:
                chunks.append(chunk)
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    async def form(self) -> FormData:
        """The body parsed as a url-encoded or multipart form (kept; later calls reuse it).

        415 for other content types; 413/400 past ``conn.limits``. Uploaded files are closed
        when the request ends.
        """
        try:
            return self._form
        except AttributeError:
            # PERF: the slot is left unset in __init__, so connections that never read a form
            # pay nothing for it.
            from .forms import parse_form

            self._form: FormData = await parse_form(self)
            return self._form

    async def json(self) -> Any:
        """The body decoded as JSON: 415 unless the content type is JSON, 400 if invalid."""
        raw_type = self._first_header(b"content-type")
        if raw_type is None or not is_json_media_type(raw_type.decode("latin-1")):
            raise HTTPError(415, "Content-Type must be application/json")
        body = await self.body()
        try:
            return _json.decode(body)
        except _json.DecodeError as exc:
            raise HTTPError(400, f"invalid JSON: {exc}") from None

    # ------------------------------------------------------------------ response side
    @property
    def started(self) -> bool:
        return self._resp_state != NOT_STARTED

    @property
    def finished(self) -> bool:
        return self._resp_state == FINISHED

    def put_resp_header(self, name: str, value: str) -> None:
        """Add a response header (validated now: CR/LF/NUL raise before anything is sent)."""
        if self._resp_state != NOT_STARTED:
            if self._resp_state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http(f"put_resp_header({name!r})")
            raise ResponseStateError(
                f"cannot set header {name!r}: the response already started, and headers go out "
                "with the first send. Set headers before the first conn.send()."
            )
        pair = encode_header(name, value)
        if self._resp_headers is None:
            self._resp_headers = [pair]
        else:
            self._resp_headers.append(pair)

    def put_resp_cookie(self, key: str, value: str = "", **options: Unpack[CookieOptions]) -> None:
        """Add a ``Set-Cookie`` header; unsafe values raise ``CookieError`` right away.

        Options: ``max_age``, ``expires``, ``path`` ("/"), ``domain``, ``secure``, ``httponly``,
        ``samesite`` ("lax"), ``partitioned`` (see ``aaf.cookies.build_set_cookie``).
        """
        self.put_resp_header("set-cookie", build_set_cookie(key, value, **options))

    def delete_resp_cookie(self, key: str, *, path: str = "/", domain: str | None = None) -> None:
        self.put_resp_cookie(key, "", max_age=0, expires=0, path=path, domain=domain)

    @staticmethod
    def _not_http(what: str) -> ResponseStateError:
        return ResponseStateError(
            f"{what} is for HTTP responses and this connection is a WebSocket: use "
            "send_text()/send_bytes()/send_json() after accept(), accept(headers=...) for "
            "handshake headers, or deny(response) to refuse it"
        )

    def _mark_finished(self) -> None:
        """A response object has sent its last message (or failed): no more sends."""
        self._resp_state = FINISHED

    def _begin_response(self, status: int, what: str) -> RawHeaders | None:
        """Claim the response for a one-shot sender; returns headers put on the connection."""
        if self._resp_state != NOT_STARTED:
            if self._resp_state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http(f"sending {what}")
            if self._resp_state == FINISHED:
                raise ResponseStateError(
                    f"cannot send {what}: this connection's response was already sent. "
                    "Send one response per request."
                )
            raise ResponseStateError(
                f"cannot send {what}: a response was already started with conn.send(). "
                "Keep using conn.send(...) and end it with conn.finish()."
            )
        self._resp_state = STARTED
        self.resp_status_code = status
        return self._resp_headers

    async def _start(self, content_type: bytes | None, content_length: int | None) -> None:
        headers: RawHeaders = self._resp_headers or []
        extra: RawHeaders = []
        if not status_has_no_body(self.resp_status_code):
            if content_type is not None and not any(n == b"content-type" for n, _ in headers):
                extra.append((b"content-type", content_type))
            if content_length is not None:
                extra.append((b"content-length", b"%d" % content_length))
        self._resp_state = STARTED
        await self.asgi_send(
            {
                "type": "http.response.start",
                "status": self.resp_status_code,
                "headers": extra + headers if extra else headers,
            }
        )

    async def send(self, data: str | bytes = b"", finish: bool = False) -> None:
        """Send a chunk of the response body, starting the response on the first call.

        ``finish=True`` ends the response; a response that starts and finishes in one call gets
        a Content-Length. Status and headers must be set before the first call.
        """
        if self._resp_state >= FINISHED:
            if self._resp_state == RESPONSE_IS_WEBSOCKET:
                raise self._not_http("conn.send()")
            raise ResponseStateError(
                "cannot send: the response is already finished (conn.finish() or "
                "send(..., finish=True) was called). Send everything before finishing."
            )
        body = data.encode() if isinstance(data, str) else data
        if self._resp_state == NOT_STARTED:
            # An empty finished response (a redirect, a 204) gets no content type.
            content_type = _CONTENT_TYPE_BY_CHUNK.get(type(data)) if body or not finish else None
            await self._start(content_type, len(body) if finish else None)
        if finish:
            self._resp_state = FINISHED
        if self.scope.get("method") == "HEAD":
            if not finish:
                return
            body = b""
        try:
            await self.asgi_send(
                {"type": "http.response.body", "body": body, "more_body": not finish}
            )
        except OSError as exc:
            # ASGI 2.4 servers raise an OSError from send() once the client is gone: nobody is
            # listening, which the app treats as a quiet end, not as a server error.
            raise ClientDisconnect("the client disconnected during the response") from exc

    async def finish(self) -> None:
        """End the response (starting an empty one if nothing was sent yet)."""
        if self._resp_state == FINISHED:
            raise ResponseStateError(
                "cannot finish: the response is already finished; call finish() once"
            )
        await self.send(b"", finish=True)

    async def send_json(self, data: Any, status_code: int | None = None) -> None:
        """Send ``data`` as a whole JSON response (on a WebSocket: as one text message)."""
        if self._resp_state == RESPONSE_IS_WEBSOCKET and status_code is None:
            await self._send_ws_json(data)
            return
        if status_code is not None:
            self.resp_status_code = status_code
        await self.send_whole(b"application/json", _json.encode(data))

    async def send_whole(self, content_type: bytes, body: bytes) -> None:
        """Send a complete response (status ``resp_status_code``) in one go."""
        start, last = self.whole_response(content_type, body)
        await self.asgi_send(start)
        await self.asgi_send(last)

    def whole_response(self, content_type: bytes, body: bytes) -> tuple[Message, Message]:
        """The two ASGI messages of a complete response; the response counts as sent.

        PERF: a plain function (not a coroutine) so the app can await ``send`` itself.
        """
        if self._resp_state != NOT_STARTED:
            self._begin_response(self.resp_status_code, "a response")
        self._resp_state = FINISHED
        status = self.resp_status_code
        headers = self._resp_headers
        if status < 200 or status == 204 or status == 304:  # PERF: status_has_no_body inlined
            headers = headers or []
            body = b""
        elif headers is None:
            headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
        else:
            extra = [(b"content-length", b"%d" % len(body))]
            if not any(name == b"content-type" for name, _ in headers):
                extra.append((b"content-type", content_type))
            headers = extra + headers
        if self.scope.get("method") == "HEAD":
            body = b""
        return (
            {"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body},
        )
