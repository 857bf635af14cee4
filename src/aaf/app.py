"""The application: scope-type dispatch, routing, return values, errors, limits, lifespan.

``aaf`` is the name the seed article gives the application; ``App`` is the same class, for type
annotations and subclassing (``class MyApp(App)``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Unpack
from urllib.parse import quote

from . import _json
from ._composition import ConnectionHandler, Middleware, as_connection_handler, build_chain
from ._draining import watch_signals
from ._handlers import ExceptionHandlers
from ._http import encode_query, is_token, start_message
from ._http_response import FINISHED, JSON_TYPE, NOT_STARTED, client_gone
from ._types import ASGIApp, Receive, Scope, Send
from ._websocket_end import end_after_error, is_open, not_found_denial
from .background import BackgroundRunner
from .connection import Connection, RouteInfo
from .debug import debug_response
from .errors import ClientDisconnect, HTTPError
from .lifespan import Hook, Lifecycle, LifespanFactory, LifespanRunner
from .limits import DEFAULT_LIMITS, Limits
from .problems import check_parameter_error_status, internal_error_body, render_error
from .response import (
    BaseResponse,
    HtmlResponse,
    HttpResponse,
    JsonResponse,
    PlainTextResponse,
)
from .routing import Mount, Route, RouteError, Router
from .routing._decorators import RouteDecorators
from .routing._spec import RouteOptions
from .websocket import (
    WebSocketDisconnect,
    WebSocketState,
)

__all__ = ["ROUTE_SCOPE_KEY", "App", "ConnectionHandler", "Middleware", "aaf"]

#: The scope key under which the matched route is left for observer middleware (those whose
#: class sets ``needs_route = True``): ``scope["aaf.route"].rule`` names the request.
ROUTE_SCOPE_KEY = "aaf.route"

logger = logging.getLogger("aaf.error")


_PATH_SAFE = "/:@!$&'()*+,;=-._~"
# PERF: whole responses whose two messages the app builds and sends itself; a subclass is sent
# through conn.respond(), and so through its own emit().
_WHOLE_RESPONSES = frozenset((HttpResponse, JsonResponse, PlainTextResponse, HtmlResponse))


def _redirect_location(root_path: str, path: str, query: bytes) -> str:
    """Same-site Location for a trailing-slash redirect, built from the decoded path."""
    # APPSEC: the decoded path may start with "//" or "/\" (from %2F/%5C in the request);
    # the leading run becomes one "/" and the rest is percent-encoded, so it stays a path.
    location = "/" + quote((root_path + path).lstrip("/\\"), safe=_PATH_SAFE)
    if query:
        location += "?" + encode_query(query)
    return location


class App(RouteDecorators):
    """An ASGI application made of routers (and other connection handlers), tried in order.

    ``aaf([router], middleware=..., lifespan=..., limits=Limits(...), debug=False)``, or
    ``app = aaf()`` and ``@app.get("/notes")``. ``background_timeout`` is how long shutdown waits
    for background tasks still running (``conn.add_background``) before cancelling them.
    ``close_on_shutdown``: event streams end, WebSockets close (1001) as the server stops.
    """

    def __init__(
        self,
        routers: Router | Iterable[Router | ConnectionHandler | ASGIApp] = (),
        *,
        middleware: Iterable[Middleware[Any] | Callable[[ASGIApp], ASGIApp]] = (),
        lifespan: LifespanFactory | None = None,
        on_startup: Iterable[Hook] = (),
        on_shutdown: Iterable[Hook] = (),
        exception_handlers: Mapping[Any, object] | None = None,
        limits: Limits | None = None,
        debug: bool = False,
        background_timeout: float = 10.0,
        problem_details: bool = False,
        parameter_error_status: int = 400,
        close_on_shutdown: bool = True,
    ) -> None:
        entries = [routers] if isinstance(routers, Router) else list(routers)
        self._entries: list[ConnectionHandler] = [as_connection_handler(e) for e in entries]
        self.routers: list[Router] = [e for e in self._entries if isinstance(e, Router)]
        # PERF: apps made of routers only are matched inline, with no call per router.
        self._not_only_routers = len(self.routers) != len(self._entries)
        for router in self.routers:
            router.compile()  # rule, name and duplicate errors surface when the app is built
        self._own_router: Router | None = None
        self.debug = debug
        self.close_on_shutdown = close_on_shutdown
        self.state: dict[str, Any] = {}
        self.limits = DEFAULT_LIMITS.merged(limits)
        self.exception_handlers = ExceptionHandlers(exception_handlers)
        self.problem_details = problem_details
        self.parameter_error_status = check_parameter_error_status(parameter_error_status)
        self._route_limits: dict[RouteInfo, Limits] = {}
        self.background = BackgroundRunner(background_timeout)
        self._lifespan = LifespanRunner(
            None if lifespan is None else (lambda: lifespan(self)),
            on_startup,
            on_shutdown,
            state=self.state,
            mounted_apps=lambda: [(m.prefix, m.app) for m in self.mounts() if m.lifespan],
            drain=self.background.drain,
            close_on_shutdown=close_on_shutdown,
        )
        #: Startup completed / draining, for readiness probes (``aaf.health``).
        self.lifecycle: Lifecycle = self._lifespan.lifecycle
        self.middleware = list(middleware)
        # The middleware chain is built once: the first listed is the outermost, and the
        # innermost app is this app's own _serve.
        self._entry = build_chain(self.middleware, self._serve)
        # Observers (metrics, tracing, the inspector) name requests by route rule, never by raw
        # path: when one is in the chain, the matched route is left in the scope for it.
        self._route_in_scope = any(
            getattr(getattr(item, "cls", item), "needs_route", False) for item in self.middleware
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        # PERF: HTTP is served right here, without another coroutine per request.
        conn = Connection(scope, receive, send, self)
        path: str = scope["path"]
        if scope.get("root_path"):
            path = conn.route_path
        method: str = scope["method"]
        try:
            if self._not_only_routers:
                await self._try_entries(conn, method, path)
                return
            for router in self.routers:
                found = (router._compiled or router.compile()).http.find(method, path)
                if found is not None:
                    break
            else:
                await self._http_miss(conn, method, path)
                return
            route, values = found
            conn.route = route
            if self._route_in_scope:
                scope[ROUTE_SCOPE_KEY] = route
            if values:
                # PERF: dict(zip(...)) costs more than the handler call for one parameter.
                if len(values) == 1:
                    params = {route.param_names[0]: values[0]}
                else:
                    params = dict(zip(route.param_names, values, strict=True))
                conn.path_params = params
                result = await route.handler(conn, **params)
            else:
                result = await route.handler(conn)
            # PERF: the common results (a dict or list, a built-in whole response) are tested by
            # exact type first and their two messages built and sent from here, as
            # conn.whole_response() and HttpResponse.messages() would (one call less each).
            kind = type(result)
            if kind is dict or kind is list:
                body = _json.encode(result)
                status = conn.resp_status_code
                headers, extra, default_type = conn._resp_headers or [], None, JSON_TYPE
            elif kind in _WHOLE_RESPONSES:
                body = result.body
                conn.resp_status_code = status = result.status_code
                headers, extra, default_type = result.raw_headers, conn._resp_headers, None
            elif result is None:
                await conn._answer_none()
                return
            else:
                await self.send_result(conn, result)
                return
            if conn._resp_state != NOT_STARTED:
                conn._claim(kind.__name__)  # raises: the handler already sent a response
            conn._resp_state = FINISHED
            start, keep = start_message(
                status, method == "HEAD", headers, extra, len(body), default_type
            )
            last = {"type": "http.response.body", "body": body if keep else b""}
            try:
                await send(start)
                await send(last)
            except OSError as exc:
                raise client_gone(exc) from exc
        except Exception as exc:
            await self._answer_error(conn, exc)
        except asyncio.CancelledError as exc:
            # The server cancelled the request: work queued for an answer never given is
            # dropped; after the answer it still runs.
            if not conn.finished:
                conn._drop_background(exc)
            raise
        finally:
            if conn._on_finish is not None:
                await conn.run_on_finish()

    async def _try_entries(self, conn: Connection, method: str, path: str) -> None:
        """The general path: each router or connection handler in turn, until one answers."""
        for entry in self._entries:
            await entry(conn)
            if conn.started:
                if self._route_in_scope and conn.route is not None:
                    conn.scope[ROUTE_SCOPE_KEY] = conn.route
                return
        await self._http_miss(conn, method, path)

    # ------------------------------------------------------------------ registration
    @property
    def router(self) -> Router:
        """The app's own router (``@app.get(...)``); tried before the routers it was given."""
        if self._own_router is None:
            self._own_router = Router()
            self._entries.insert(0, self._own_router)
            self.routers.insert(0, self._own_router)
        return self._own_router

    def add_route(
        self,
        rule: str,
        handler: Callable[..., Any],
        name: str | None = None,
        methods: Iterable[str] | None = None,
        *,
        limits: Limits | None = None,
        websocket: bool = False,
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Register on the app's own router (``app.get(...)``, ``app.websocket(...)`` too)."""
        return self.router.add_route(
            rule, handler, name, methods, limits=limits, websocket=websocket, **options
        )

    # ------------------------------------------------------------------ helpers
    def limits_for(self, route: RouteInfo | None, /) -> Limits:
        if route is None or route.limits is None:
            return self.limits
        limits = self._route_limits.get(route)
        if limits is None:
            limits = self._route_limits[route] = self.limits.merged(route.limits)
        return limits

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path (below this app's mount point) of the route called ``name``."""
        for router in self.routers:
            if name in router.compile().names:
                return router.url_for(name, **params)
        known = sorted(n for r in self.routers for n in r.compile().names)
        raise RouteError(f"no route is named {name!r} (known: {', '.join(known) or 'none'})")

    def mounts(self) -> list[Mount]:
        return [mount for router in self.routers for mount in router.compile().mounts]

    # ------------------------------------------------------------------ dispatch
    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            raise RuntimeError(f"aaf cannot serve ASGI scope type {kind!r}")

    async def send_result(self, conn: Connection, result: Any) -> None:
        """Send what a handler (or exception handler) returned (see ``Connection.respond``)."""
        if self.close_on_shutdown and getattr(result, "needs_watcher", False):
            # A long-lived response: hear the server's stop even without lifespan (daphne).
            watch_signals()
        await conn.respond(result)

    async def _http_miss(self, conn: Connection, method: str, path: str) -> None:
        if not is_token(method):
            # APPSEC: a method that is not an RFC 9110 token is only ever a dictionary key that
            # matches nothing (never an attribute lookup); it is refused here, mounts included.
            raise self._bad_method(path)
        allowed: set[str] = set()
        redirect: str | None = None
        for router in self.routers:
            miss = router.compile().explain_miss(method, path, router.redirect_slashes)
            allowed |= miss.allowed
            if miss.mount is not None and not allowed:
                await self._to_mount(conn, miss.mount)
                return
            redirect = redirect or miss.redirect
        if allowed:
            allow = ", ".join(sorted(allowed | {"OPTIONS"}))
            if method == "OPTIONS":
                conn.put_resp_header("allow", allow)
                conn.resp_status_code = 204
                await conn.finish()
                return
            raise HTTPError(405, headers={"allow": allow})
        if redirect is not None:
            scope = conn.scope
            location = _redirect_location(
                scope.get("root_path", ""), redirect, scope.get("query_string", b"")
            )
            conn.put_resp_header("location", location)
            conn.resp_status_code = 308
            await conn.finish()
            return
        raise HTTPError(404)

    def _bad_method(self, path: str) -> HTTPError:
        allowed: set[str] = set()
        for router in self.routers:
            allowed |= router.compile().explain_miss("GET", path, False).allowed
        headers = {"allow": ", ".join(sorted(allowed | {"OPTIONS"}))} if allowed else None
        return HTTPError(400, "the request method is not a valid HTTP token", headers=headers)

    async def _to_mount(self, conn: Connection, mount: Mount) -> None:
        """Hand the connection to a mounted app, below the mount's prefix."""
        scope = dict(conn.scope)
        scope["root_path"] = scope.get("root_path", "") + mount.prefix
        # The full path, also from servers whose path leaves out root_path (older ASGI).
        scope["path"] = conn.full_path
        # conn.asgi_send keeps the connection's state in step with what the mounted app sends,
        # so an error it raises later is handled like ours (no second response).
        await mount.app(scope, conn.asgi_receive, conn.asgi_send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route a WebSocket like an HTTP request; refuse unknown paths before accepting."""
        conn = Connection(scope, receive, send, self)
        path: str = conn.route_path if scope.get("root_path") else scope["path"]
        try:
            found = None
            if self._not_only_routers:
                conn._begin_websocket(self.limits.websocket_message)
                for entry in self._entries:
                    await entry(conn)
                    if conn.ws_state != WebSocketState.CONNECTING:
                        return
            else:
                for router in self.routers:
                    found = (router._compiled or router.compile()).ws.find("", path)
                    if found is not None:
                        break
            if found is None:
                for router in self.routers:
                    mount = router.compile().find_mount(path)
                    if mount is not None:
                        await self._to_mount(conn, mount)
                        return
                if not hasattr(conn, "_ws"):
                    conn._begin_websocket(self.limits.websocket_message)
                await conn.deny(not_found_denial(self.problem_details))
                return
            route, values = found
            conn.route = route
            if self._route_in_scope:
                scope[ROUTE_SCOPE_KEY] = route
            conn.path_params = params = dict(zip(route.param_names, values, strict=True))
            conn._begin_websocket(self.limits_for(route).websocket_message)
            await conn._end_handler(await route.handler(conn, **params))
        except Exception as exc:
            await self._websocket_error(conn, exc)
        finally:
            if conn._on_finish is not None:
                await conn.run_on_finish()

    async def _websocket_error(self, conn: Connection, exc: Exception) -> None:
        """Answer a WebSocket handler's exception: a denial before accept, a close code after.

        An ``exception_handlers`` entry runs first: it may return a response (the denial, before
        accept) or close the socket itself; whatever it leaves open is ended as below.
        """
        conn._drop_background(exc)
        if not hasattr(conn, "_ws"):
            conn._begin_websocket(self.limits.websocket_message)
        # This socket's own end (its receive or send saw the client go) needs nothing more. A
        # WebSocketDisconnect while it is still open came from another, dead socket.
        if isinstance(exc, ClientDisconnect) or (
            isinstance(exc, WebSocketDisconnect) and not is_open(conn)
        ):
            logger.debug("client left %s (%s)", conn._where(), exc)
            return
        handler = self.exception_handlers.lookup(exc)
        if handler is not None:
            try:
                result = handler(conn, exc)
                if inspect.isawaitable(result) and not isinstance(result, BaseResponse):
                    result = await result
                if isinstance(result, BaseResponse) and conn.ws_state == WebSocketState.CONNECTING:
                    await conn.deny(result)
                if not is_open(conn):
                    return
            except Exception as handler_exc:
                logger.exception("exception handler for %r failed", type(exc).__name__)
                exc = handler_exc
        await end_after_error(conn, exc, self.problem_details)

    # ------------------------------------------------------------------ errors
    async def _answer_error(self, conn: Connection, exc: Exception) -> None:
        try:
            await self.handle_error(conn, exc)
        except ClientDisconnect:
            # The client left while its error answer was being sent: nothing more to do.
            logger.debug("client disconnected during %s", conn._where())

    async def handle_error(self, conn: Connection, exc: Exception) -> None:
        """Turn an exception from a handler into a response (or a log line if too late)."""
        conn._drop_background(exc)
        if isinstance(exc, ClientDisconnect):
            logger.debug("client disconnected during %s", conn._where())
            return
        handler = self.exception_handlers.lookup(exc)
        if handler is not None and not conn.started:
            # The handler answers afresh: nothing of the failed answer (status, headers,
            # cookies put on the connection) leaks into it.
            conn._resp_headers = None
            conn.resp_status_code = exc.status_code if isinstance(exc, HTTPError) else 500
            try:
                result = handler(conn, exc)
                # Responses are awaitable too (with a connection); only await coroutines etc.
                if inspect.isawaitable(result) and not isinstance(result, BaseResponse):
                    result = await result
                await self.send_result(conn, result)
                return
            except ClientDisconnect:
                raise
            except Exception as handler_exc:
                logger.exception("exception handler for %r failed", type(exc).__name__)
                exc = handler_exc
        if isinstance(exc, HTTPError):
            if conn.started:
                logger.warning(
                    "%s raised after the response started; it cannot be sent: %s",
                    conn._where(),
                    exc,
                )
                return
            # Headers put on the connection before the error belong to the answer that failed.
            conn._resp_headers = exc.raw_headers or None
            conn.resp_status_code = exc.status_code
            await conn.send_whole(*render_error(exc, self.problem_details))
            return
        logger.error("unhandled error in %s", conn._where(), exc_info=exc)
        if conn.started:
            # Too late for a 500: return without finishing so the server closes the connection
            # and the client sees a truncated response rather than a falsely complete one.
            return
        conn._resp_headers = None
        conn.resp_status_code = 500
        if self.debug:
            page = debug_response(exc, conn.req_headers.get("accept"), conn.method, conn.full_path)
            await self.send_result(conn, page)
        else:
            await conn.send_whole(*internal_error_body(self.problem_details))


aaf = App
