"""``Connection``: one object per HTTP request or WebSocket, wrapping scope/receive/send.

The request side is parsed lazily (nothing is decoded until asked for). The halves live in
mixins beside this module: the request body (``_request_body``), the HTTP response
(``_http_response``) and the WebSocket (``websocket``); every slot is declared here.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload
from urllib.parse import quote, quote_from_bytes

from ._disconnect import DisconnectWatcher
from ._http import encode_query, is_plain_host
from ._http_response import NOT_STARTED, HTTPResponseMixin
from ._request_body import (
    BODY_DISCARDED,
    BODY_STREAMING,
    BODY_UNREAD,
    RequestBodyMixin,
    is_json_media_type,
)
from ._websocket_typed import TypedMessagesMixin
from .background import BackgroundRunner, BackgroundTask
from .cookies import parse_cookie_header
from .datastructures import URL, Address, Headers, QueryParams
from .errors import BodyStateError, ClientDisconnect, ResponseStateError
from .limits import DEFAULT_LIMITS, Limits
from .websocket import RESPONSE_IS_WEBSOCKET, WebSocketMixin

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ._types import RawHeaders, Receive, Scope, Send
    from .datastructures import AuthUser

__all__ = ["AppLike", "Connection", "ConnectionType", "RouteInfo", "is_json_media_type"]

logger = logging.getLogger("aaf.error")

T = TypeVar("T")
D = TypeVar("D")


class ConnectionType(StrEnum):
    HTTP = "http"
    WEBSOCKET = "websocket"
    WebSocket = "websocket"  # the seed article's spelling: the same member as WEBSOCKET


# What a URL path may carry as it is when conn.url rebuilds it from raw bytes.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class RouteInfo(Protocol):
    """What a connection knows of the route that matched it (``aaf.routing.Route``)."""

    @property
    def rule(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def limits(self) -> Limits | None: ...
    @property
    def endpoint(self) -> Callable[..., Any] | None: ...


class AppLike(Protocol):
    """What a connection needs of the app that routes it (``aaf.App`` has all of it)."""

    @property
    def state(self) -> dict[str, Any]: ...
    @property
    def background(self) -> BackgroundRunner: ...
    def limits_for(self, route: RouteInfo | None, /) -> Limits: ...
    def url_for(self, name: str, /, **params: Any) -> str: ...


class _NoApp:
    """The app of a connection built by hand (``Connection(scope, receive, send)``, as a plain
    ASGI app does before ``await router(conn)``): default limits, no routes by name."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.background = BackgroundRunner()

    def limits_for(self, route: RouteInfo | None, /) -> Limits:
        return DEFAULT_LIMITS.merged(route.limits if route is not None else None)

    def url_for(self, name: str, /, **params: Any) -> str:
        raise RuntimeError(
            "url_for needs an app that knows the routes: serve the router with aaf([router])"
        )


class Connection(RequestBodyMixin, HTTPResponseMixin, WebSocketMixin, TypedMessagesMixin):
    """One HTTP request or WebSocket; the raw ASGI pieces stay reachable.

    ``await other_app(conn.scope, conn.asgi_receive, conn.asgi_send)`` hands the connection to
    any other ASGI application (aaf then sends nothing more). The body readers come from
    :class:`~aaf._request_body.RequestBodyMixin`, the response senders from
    :class:`~aaf._http_response.HTTPResponseMixin` and the WebSocket methods (``accept``,
    ``receive_text``, ``send_text``, ...) from :class:`aaf.websocket.WebSocketMixin`.
    """

    # PERF: "_background", "_form" and "_watcher" (and the mixin's "_ws") are not set in
    # __init__: only requests that use them pay for them; they are read with getattr(..., None)
    # (or, for _form, by catching AttributeError).
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
        "_server_send",
        "_watcher",
        "app",
        "asgi_receive",
        "path_params",
        "received_bytes",
        "resp_status_code",
        "route",
        "scope",
    )

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, app: AppLike | None = None
    ) -> None:
        # PERF: only plain assignments here; every view is built on first use.
        self.scope = scope
        self.asgi_receive = receive
        self._server_send = send
        self.app: AppLike = app if app is not None else _NoApp()
        self.route: RouteInfo | None = None
        self.path_params: dict[str, Any] = {}
        self.resp_status_code = 200
        self.received_bytes = 0
        self._resp_state = NOT_STARTED
        self._resp_headers: RawHeaders | None = None
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._body: bytes | None = None
        self._body_state = BODY_UNREAD
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
        """The lifespan state: what the lifespan context manager yielded, over ``app.state``.

        Servers give each request a shallow copy, so a key set here stays with this request.
        """
        state = self.scope.get("state")
        if state is None:
            return self.app.state
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
        """The authenticated user (set by an authentication middleware: JWT, API key, Basic,
        session sign-in), or None when anonymous."""
        user: AuthUser | None = self.scope.get("user")
        return user

    @property
    def request_id(self) -> str | None:
        """This request's ID (``RequestIdMiddleware``), or None without that middleware."""
        request_id: str | None = self.scope.get("request_id")
        return request_id

    @property
    def limits(self) -> Limits:
        """The limits in force for this connection: the route's over the app's over defaults."""
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
                default = DEFAULT_PORTS.get(scheme)
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
        root: str = self.scope.get("root_path", "")
        return root + self.app.url_for(name, **params)

    # ------------------------------------------------------------------ end of request
    def on_finish(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` (sync or async) when the app is done with this connection.

        Callbacks run after the response (also after errors and disconnects), newest first, so
        resources opened while handling the request (temporary files...) are always released.
        Background tasks run before any of them, so they still see the request's resources
        (open uploads). Errors are logged, never sent to the client.
        """
        if self._on_finish is None:
            self._on_finish = [callback]
        else:
            self._on_finish.append(callback)

    async def run_on_finish(self) -> None:
        callbacks, self._on_finish = self._on_finish or [], None
        cancelled: asyncio.CancelledError | None = None
        if getattr(self, "_background", None):
            callbacks.append(self._run_background)  # runs first: the list is run newest first
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
            if self._on_finish is None:
                self._on_finish = []  # the app runs run_on_finish() only when this is set
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
        await self.app.background.run(tasks, self._where())

    # ------------------------------------------------------------------ client disconnects
    async def _response_watcher(self) -> DisconnectWatcher | None:
        """The watcher a streaming response uses; an unread request body is dropped, not kept
        (nobody will read it: the handler has answered), so a large unread body is no 413."""
        if self.scope.get("method") == "HEAD":
            return None  # nothing is streamed
        return await self.disconnect_watcher_if_possible(keep_body=False)

    async def _disconnect_watcher(self) -> DisconnectWatcher:
        watcher = await self.disconnect_watcher_if_possible()
        if watcher is None:
            raise BodyStateError(
                "cannot watch for a disconnect while the request body is being streamed; "
                "finish reading it first (or call body() before)"
            )
        return watcher

    async def disconnect_watcher_if_possible(
        self, keep_body: bool = True
    ) -> DisconnectWatcher | None:
        """The watcher of this request's ``http.disconnect``, started on first use.

        It reads ``receive()`` itself, so an unread request body is read first and kept for
        ``body()`` - or, with ``keep_body=False``, left to the watcher, which drops it. While a
        handler is still streaming the body it cannot start, and None is returned (then the
        body reader is the one that sees a disconnect).
        """
        watcher: DisconnectWatcher | None = getattr(self, "_watcher", None)
        if watcher is not None:
            return watcher
        if self.scope["type"] != "http":
            raise self._not_http("disconnect detection")
        if self._body_state == BODY_STREAMING:
            return None
        receive: Receive | None = self.asgi_receive
        if self._body_state == BODY_UNREAD:
            if keep_body:
                try:
                    await self.body()
                except ClientDisconnect:
                    receive = None  # gone already
            else:
                # APPSEC: the watcher reads and drops the chunks, so memory stays bounded.
                self._body_state = BODY_DISCARDED
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

    # ------------------------------------------------------------------ WebSocket state
    def _begin_websocket(self, message_limit: int) -> None:
        super()._begin_websocket(message_limit)
        self._resp_state = RESPONSE_IS_WEBSOCKET  # HTTP response methods now refuse clearly

    @staticmethod
    def _not_http(what: str) -> ResponseStateError:
        return ResponseStateError(
            f"{what} is for HTTP responses and this connection is a WebSocket: use "
            "send_text()/send_bytes()/send_json() after accept(), accept(headers=...) for "
            "handshake headers, or deny(response) to refuse it"
        )
