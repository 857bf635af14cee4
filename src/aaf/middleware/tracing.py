"""OpenTelemetry tracing: one SERVER span per HTTP request or WebSocket.

    Middleware(TracingMiddleware)                              # the global tracer provider
    Middleware(TracingMiddleware, tracer_provider=provider)    # an explicit one

Needs ``opentelemetry-api`` (``pip install 'aaf[tracing]'``); the SDK and exporters are the
application's choice. The span continues the trace of the incoming ``traceparent`` /
``tracestate`` headers (through the global propagator, or the one given), is current while the
app runs (so spans made in handlers are its children), and carries the stable HTTP semantic
convention attributes. It is named ``"GET /items/<int:item_id>"`` after routing; requests no
route matched keep the method alone as name - never the raw path, whose values are unbounded.

Status ERROR: for 5xx answers, and for exceptions that leave the app (recorded, re-raised). A
handler exception the app turns into a 500 is recorded on the span too: the app logs it on the
``aaf.error`` logger while the span is current, and a filter on that logger records it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..app import ROUTE_SCOPE_KEY

if TYPE_CHECKING:
    from opentelemetry.propagators.textmap import Getter, TextMapPropagator
    from opentelemetry.trace import Span, TracerProvider

    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TracingMiddleware"]

INSTALL_HINT = "pip install 'aaf[tracing]'"
#: The span attribute holding a WebSocket's close code (no stable convention names one yet).
WEBSOCKET_CLOSE_CODE = "aaf.websocket.close_code"

_Headers = list[tuple[bytes, bytes]]
# The semantic conventions' known methods; any other is "_OTHER" (the name and
# http.request.method), so a client cannot mint span names.
_KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "QUERY")
)


def _import_otel() -> Any:
    """The opentelemetry package, or an ImportError that says how to install it."""
    try:
        from opentelemetry import context, propagate, trace  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"TracingMiddleware needs the OpenTelemetry API: {INSTALL_HINT}") from exc
    import opentelemetry

    return opentelemetry


def _header_getter() -> Getter[_Headers]:
    """A propagator getter reading the raw ASGI header list (made after the lazy import)."""
    from opentelemetry.propagators.textmap import Getter

    class ASGIHeaderGetter(Getter[_Headers]):
        def get(self, carrier: _Headers, key: str) -> list[str] | None:
            wanted = key.lower().encode("latin-1")
            values = [value.decode("latin-1") for name, value in carrier if name == wanted]
            return values or None

        def keys(self, carrier: _Headers) -> list[str]:
            return [name.decode("latin-1") for name, _ in carrier]

    return ASGIHeaderGetter()


class _RecordLoggedErrors(logging.Filter):
    """Records an exception the app logs (then answers 500 for) on the current span.

    The app turns handler exceptions into responses, so none leaves it for the middleware to
    see; it logs each one on ``aaf.error`` while the request's span is current.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        if exc_info and isinstance(exc_info[1], Exception):
            from opentelemetry import trace

            span = trace.get_current_span()
            if span.is_recording():
                span.record_exception(exc_info[1])
        return True  # the log record itself is untouched


_ERROR_FILTER = _RecordLoggedErrors()


def _split_host(host: str) -> tuple[str, int | None]:
    """``"example.com:8080"`` -> (``"example.com"``, 8080); IPv6 literals keep their brackets."""
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and (not name.startswith("[") or name.endswith("]")):
        return name, int(port)
    return host, None


def request_attributes(scope: Scope) -> dict[str, Any]:
    """The HTTP semantic convention attributes known before the app runs."""
    websocket = scope["type"] == "websocket"
    method = "GET" if websocket else scope["method"]
    attributes: dict[str, Any] = {
        "http.request.method": method if method in _KNOWN_METHODS else "_OTHER",
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme") or ("ws" if websocket else "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if method not in _KNOWN_METHODS:
        attributes["http.request.method_original"] = method
    query: bytes = scope.get("query_string", b"")
    if query:
        attributes["url.query"] = query.decode("latin-1")
    host = user_agent = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")
    # The Host header names the server as the client addressed it; the socket is the fallback.
    server = scope.get("server")
    if host:
        address, port = _split_host(host)
        attributes["server.address"] = address
        if port is not None:
            attributes["server.port"] = port
        elif server and server[1] is not None:
            attributes["server.port"] = server[1]
    elif server:
        attributes["server.address"] = server[0]
        if server[1] is not None:
            attributes["server.port"] = server[1]
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    if user_agent is not None:
        attributes["user_agent.original"] = user_agent
    return attributes


class TracingMiddleware:
    """One OpenTelemetry SERVER span per HTTP request and WebSocket.

    Args:
        tracer_provider: the provider to take the tracer from (default: the global one, as
            set by ``opentelemetry.trace.set_tracer_provider`` or auto-instrumentation).
        propagator: reads the incoming trace context (default: the global propagator,
            W3C ``traceparent``/``tracestate`` and baggage unless configured otherwise).
    """

    # The app leaves the matched route in scope["aaf.route"]: spans are named by its rule.
    needs_route = True

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: TracerProvider | None = None,
        propagator: TextMapPropagator | None = None,
    ) -> None:
        otel = _import_otel()
        self.app = app
        self._trace = otel.trace
        self._context = otel.context
        self._extract = propagator.extract if propagator is not None else otel.propagate.extract
        self._getter = _header_getter()
        self._server_kind = otel.trace.SpanKind.SERVER
        self._error = otel.trace.StatusCode.ERROR
        self.tracer = otel.trace.get_tracer("aaf", tracer_provider=tracer_provider)
        error_logger = logging.getLogger("aaf.error")
        if _ERROR_FILTER not in error_logger.filters:
            error_logger.addFilter(_ERROR_FILTER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        websocket = kind == "websocket"
        method = "GET" if websocket else scope["method"]
        if method not in _KNOWN_METHODS:
            method = "_OTHER"
        parent = self._extract(scope["headers"], getter=self._getter)
        # The route is known only after the app ran: the provisional name is the method.
        span = self.tracer.start_span(
            method, context=parent, kind=self._server_kind, attributes=request_attributes(scope)
        )
        token = self._context.attach(self._trace.set_span_in_context(span, parent))
        status: int | None = None
        close_code: int | None = None
        failed = False

        async def traced_send(message: Message) -> None:
            nonlocal status, close_code
            kind = message["type"]
            if kind == "http.response.start" or kind == "websocket.http.response.start":
                status = message["status"]
            elif kind == "websocket.close":
                close_code = message.get("code", 1000)
            await send(message)

        async def traced_receive() -> Message:
            nonlocal close_code
            message = await receive()
            if message["type"] == "websocket.disconnect" and close_code is None:
                close_code = message.get("code", 1005)
            return message

        try:
            await self.app(scope, traced_receive if websocket else receive, traced_send)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(self._error, f"{type(exc).__name__}: {exc}")
            failed = True
            raise
        finally:
            self._context.detach(token)
            self._finish(span, scope, method, status, close_code, failed)

    def _finish(
        self,
        span: Span,
        scope: Scope,
        method: str,
        status: int | None,
        close_code: int | None,
        failed: bool,
    ) -> None:
        route = scope.get(ROUTE_SCOPE_KEY)
        if route is not None:
            span.update_name(f"{method} {route.rule}")
            span.set_attribute("http.route", route.rule)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
            # An exception already set ERROR with its description; this must not replace it.
            if status >= 500 and not failed:
                span.set_status(self._error)
        if close_code is not None:
            span.set_attribute(WEBSOCKET_CLOSE_CODE, close_code)
        span.end()
