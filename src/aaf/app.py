"""The application: scope-type dispatch, routing, return values, errors, limits, lifespan."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from . import _json
from ._http import encode_query, is_token
from ._types import ASGIApp, Message, Receive, Scope, Send
from .background import BackgroundRunner
from .connection import FINISHED, NOT_STARTED, STARTED, Connection
from .debug import send_debug_response
from .errors import ClientDisconnect, ExceptionHandler, ExceptionHandlers, HandlerKey, HTTPError
from .lifespan import Hook, LifespanFactory, LifespanRunner
from .limits import DEFAULT_LIMITS, Limits
from .response import HttpResponse, Response
from .routing import Mount, Route, RouteError, Router
from .websocket import (
    INTERNAL_ERROR,
    POLICY_VIOLATION,
    WebSocketDataError,
    WebSocketDisconnect,
    WebSocketState,
    clip_reason,
)

__all__ = ["App", "Middleware", "aaf"]

logger = logging.getLogger("aaf.error")

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_BYTES = b"application/octet-stream"
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class Middleware:
    """A middleware class and its options: ``Middleware(CORSMiddleware, allow_origins=["*"])``.

    The app builds ``cls(inner_app, *args, **kwargs)`` once, when the app is created.
    """

    __slots__ = ("args", "cls", "kwargs")

    def __init__(self, cls: Callable[..., ASGIApp], /, *args: Any, **kwargs: Any) -> None:
        self.cls = cls
        self.args = args
        self.kwargs = kwargs

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return self.cls(app, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"Middleware({getattr(self.cls, '__name__', self.cls)!r})"


def _redirect_location(root_path: str, path: str, query: bytes) -> str:
    """Same-site Location for a trailing-slash redirect, built from the decoded path."""
    # APPSEC: the decoded path may start with "//" or "/\" (from %2F/%5C in the request);
    # the leading run becomes one "/" and the rest is percent-encoded, so it stays a path.
    location = "/" + quote((root_path + path).lstrip("/\\"), safe=_PATH_SAFE)
    if query:
        location += "?" + encode_query(query)
    return location


class App:
    """An ASGI application made of routers, tried in order.

    ``aaf([router], middleware=..., lifespan=..., limits=Limits(...), debug=False)``.
    ``background_timeout`` is how long shutdown waits for background tasks still running
    (``conn.add_background``) before cancelling them.
    """

    def __init__(
        self,
        routers: Router | Iterable[Router] = (),
        *,
        middleware: Iterable[Middleware | Callable[[ASGIApp], ASGIApp]] = (),
        lifespan: LifespanFactory | None = None,
        on_startup: Iterable[Hook] = (),
        on_shutdown: Iterable[Hook] = (),
        exception_handlers: Mapping[HandlerKey, ExceptionHandler] | None = None,
        limits: Limits | None = None,
        debug: bool = False,
        background_timeout: float = 10.0,
    ) -> None:
        self.routers: list[Router] = [routers] if isinstance(routers, Router) else list(routers)
        for router in self.routers:
            if not isinstance(router, Router):
                raise TypeError(f"aaf() takes Router objects, not {router!r}")
            router.compile()  # rule, name and duplicate errors surface when the app is built
        self.debug = debug
        self.state: dict[str, Any] = {}
        self.limits = DEFAULT_LIMITS.merged(limits)
        self.exception_handlers = ExceptionHandlers(exception_handlers)
        self._route_limits: dict[Route, Limits] = {}
        self.background = BackgroundRunner(background_timeout)
        self._lifespan = LifespanRunner(
            None if lifespan is None else (lambda: lifespan(self)),
            on_startup,
            on_shutdown,
            state=self.state,
            mounted_apps=lambda: [
                (m.prefix, m.app) for m in self.mounts() if getattr(m, "lifespan", True)
            ],
            drain=self.background.drain,
        )
        self.middleware = list(middleware)
        self._owner = self  # the app connections belong to (the outer one, see below)
        self._entry: ASGIApp = self
        if self.middleware:
            # PERF: App.__call__ serves requests itself, with no "is there middleware?" check.
            # The innermost app of the chain is a twin sharing this app's __dict__ (so settings
            # changed later apply to both), and this app becomes a _MiddlewareApp, whose
            # __call__ enters the chain. The first middleware listed is the outermost.
            core = object.__new__(App)
            core.__dict__ = self.__dict__
            entry: ASGIApp = core
            for item in reversed(self.middleware):
                entry = item.wrap(entry) if isinstance(item, Middleware) else item(entry)
            self._entry = entry
            self.__class__ = _MiddlewareApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        # PERF: HTTP is served right here, without another coroutine per request.
        conn = Connection(scope, receive, send, self._owner)
        path: str = scope["path"]
        if scope.get("root_path"):
            path = conn.route_path
        method: str = scope["method"]
        try:
            for router in self.routers:
                found = (router._compiled or router.compile()).http.find(method, path)
                if found is not None:
                    break
            else:
                await self._http_miss(conn, method, path)
                return
            route, values = found
            conn.route = route
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
            # PERF: the common return types are tested by exact type first.
            kind = type(result)
            if kind is dict or kind is list:
                start, last = conn.whole_response(_JSON, _json.encode(result))
                await send(start)
                await send(last)
            elif isinstance(result, HttpResponse) and kind._fast_path:
                if conn._resp_state != NOT_STARTED:
                    conn._begin_response(result.status_code, kind.__name__)  # raises
                conn._resp_state = FINISHED
                conn.resp_status_code = result.status_code
                start, last = result.messages(method == "HEAD", conn._resp_headers)
                await send(start)
                await send(last)
            elif result is None:
                await _answer_none(conn)
            else:
                await self.send_result(conn, result)
        except Exception as exc:
            await self.handle_error(conn, exc)
        finally:
            if conn._on_finish is not None:
                await conn.run_on_finish()

    # ------------------------------------------------------------------ helpers
    def limits_for(self, route: Route | None) -> Limits:
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
        """Send what a handler (or exception handler) returned."""
        if isinstance(result, Response):
            await result.send_to(conn)
        elif isinstance(result, dict | list):
            await conn.send_whole(_JSON, _json.encode(result))
        elif isinstance(result, str):
            await conn.send_whole(_TEXT, result.encode())
        elif isinstance(result, bytes | bytearray | memoryview):
            await conn.send_whole(_BYTES, bytes(result))
        elif result is None:
            await _answer_none(conn)
        else:
            raise TypeError(
                f"handler returned {type(result).__name__}; return a response, dict, list, "
                "str, bytes or None"
            )

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
        scope = dict(conn.scope)
        scope["root_path"] = scope.get("root_path", "") + mount.prefix
        send = server_send = conn.asgi_send
        if scope["type"] == "http":
            # The mounted app answers for itself; keeping the connection's response state in
            # step means an error it raises later is handled like ours (no second response).
            async def tracking_send(message: Message) -> None:
                kind = message["type"]
                if kind == "http.response.start":
                    conn._resp_state = STARTED
                elif kind == "http.response.pathsend" or (
                    kind == "http.response.body" and not message.get("more_body", False)
                ):
                    conn._resp_state = FINISHED
                await server_send(message)

            send = tracking_send
        await mount.app(scope, conn.asgi_receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route a WebSocket like an HTTP request; refuse unknown paths before accepting."""
        conn = Connection(scope, receive, send, self._owner)
        path: str = conn.route_path if scope.get("root_path") else scope["path"]
        for router in self.routers:
            found = (router._compiled or router.compile()).ws.find("", path)
            if found is not None:
                break
        else:
            for router in self.routers:
                mount = router.compile().find_mount(path)
                if mount is not None:
                    await self._to_mount(conn, mount)
                    return
            conn._begin_websocket(self.limits.websocket_message)
            await conn.deny(HttpResponse("Not Found", 404))
            return
        route, values = found
        conn.route = route
        conn.path_params = params = dict(zip(route.param_names, values, strict=True))
        conn._begin_websocket(self.limits_for(route).websocket_message)
        try:
            result = await route.handler(conn, **params)
            if isinstance(result, Response) and conn.ws_state == WebSocketState.CONNECTING:
                await conn.deny(result)  # returning a response before accept() refuses
            elif result is not None:
                raise TypeError(
                    f"WebSocket handler returned {type(result).__name__}; return None, or a "
                    "response before accept() to refuse the handshake"
                )
            if conn.ws_state == WebSocketState.CONNECTING:
                await conn.deny(403)  # returned without accepting: a refusal
            elif conn.ws_state == WebSocketState.CONNECTED:
                await conn.close()
        except Exception as exc:
            await self._websocket_error(conn, exc)
        finally:
            if conn._on_finish is not None:
                await conn.run_on_finish()

    async def _websocket_error(self, conn: Connection, exc: Exception) -> None:
        """Answer a WebSocket handler's exception: a denial before accept, a close code after."""
        conn._drop_background(exc)
        if isinstance(exc, WebSocketDisconnect):
            logger.debug("client left %s (code %s)", conn._where(), exc.code)
        elif isinstance(exc, WebSocketDataError):
            # The client sent what the handler cannot use: its error, not the server's.
            logger.info("closing %s with %s: %s", conn._where(), exc.close_code, exc)
            await _refuse_or_close(conn, HttpResponse(b"", 400), exc.close_code, str(exc))
        elif isinstance(exc, HTTPError):
            body = _json.encode({"error": exc.detail})
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in exc.raw_headers]
            denial = HttpResponse(body, exc.status_code, headers, media_type="application/json")
            code = POLICY_VIOLATION if exc.status_code < 500 else INTERNAL_ERROR
            await _refuse_or_close(conn, denial, code, str(exc.detail))
        else:
            logger.error("unhandled error in WebSocket %s", conn._where(), exc_info=exc)
            denial = HttpResponse("Internal Server Error", 500)
            await _refuse_or_close(conn, denial, INTERNAL_ERROR, "")

    # ------------------------------------------------------------------ errors
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
                if inspect.isawaitable(result) and not isinstance(result, Response):
                    result = await result
                await self.send_result(conn, result)
                return
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
            await conn.send_whole(_JSON, _json.encode({"error": exc.detail}))
            return
        logger.error("unhandled error in %s", conn._where(), exc_info=exc)
        if conn.started:
            # Too late for a 500: return without finishing so the server closes the connection
            # and the client sees a truncated response rather than a falsely complete one.
            return
        conn._resp_headers = None
        conn.resp_status_code = 500
        if self.debug:
            await send_debug_response(conn, exc)
        else:
            await conn.send_whole(_TEXT, b"Internal Server Error")


async def _refuse_or_close(conn: Connection, denial: Response, code: int, reason: str) -> None:
    """End a WebSocket after an error: refuse the handshake, or close an accepted socket."""
    state = conn.ws_state
    if state == WebSocketState.CONNECTING:
        await conn.deny(denial)
    elif state == WebSocketState.CONNECTED:
        await conn.close(code, clip_reason(reason))


async def _answer_none(conn: Connection) -> None:
    """A handler returned None: nothing more if it sent a response (finishing it if needed),
    otherwise an empty answer - 204 unless it chose another status."""
    if not conn.started:
        if conn.resp_status_code == 200:
            conn.resp_status_code = 204
        await conn.finish()
    elif not conn.finished:
        await conn.finish()


class _MiddlewareApp(App):
    """An app with middleware: requests enter the middleware chain first (see App.__init__)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)


aaf = App
