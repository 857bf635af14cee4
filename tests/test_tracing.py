"""TracingMiddleware: one SERVER span per request, named by route rule, in the caller's trace."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware.tracing import WEBSOCKET_CLOSE_CODE, TracingMiddleware
from aaf.testing import TestClient
from tests.conftest import call, http_scope

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    # Passed explicitly to the middleware: the global provider is never set.
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def traced_app(provider: TracerProvider) -> Any:
    router = Router()

    @router.get("/items/<int:item_id>")
    async def item(conn: Connection, item_id: int) -> dict[str, Any]:
        return {"id": item_id}

    @router.get("/boom")
    async def boom(conn: Connection) -> dict[str, Any]:
        raise RuntimeError("kaboom")

    @router.get("/nested")
    async def nested(conn: Connection) -> dict[str, Any]:
        with provider.get_tracer("user").start_as_current_span("load item"):
            return {"ok": True}

    @router.websocket("/ws/<name>")
    async def echo(ws: Connection, name: str) -> None:
        await ws.accept()
        await ws.send_text(name + ": " + await ws.receive_text())
        await ws.close(4001)

    return aaf([router], middleware=[Middleware(TracingMiddleware, tracer_provider=provider)])


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = exporter.get_finished_spans()
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def test_span_is_named_by_route_rule_with_http_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TestClient(traced_app(provider)) as client:
        response = client.get("/items/42?full=1", headers={"user-agent": "probe/2"})
    assert response.status_code == 200
    span = only_span(exporter)
    assert span.name == "GET /items/<int:item_id>"
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/items/<int:item_id>"
    assert attributes["http.response.status_code"] == 200
    assert attributes["url.path"] == "/items/42"
    assert attributes["url.query"] == "full=1"
    assert attributes["url.scheme"] == "http"
    assert attributes["user_agent.original"] == "probe/2"
    assert attributes["network.protocol.version"] == "1.1"
    assert attributes["server.address"] == "testserver"
    assert "client.address" in attributes


async def test_server_address_port_and_client_from_the_scope(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    scope = http_scope(
        "/items/7",
        headers=[(b"host", b"api.example:8443")],
        client=("203.0.113.9", 5000),
        scheme="https",
    )
    await call(traced_app(provider), scope)
    attributes = dict(only_span(exporter).attributes or {})
    assert attributes["server.address"] == "api.example"
    assert attributes["server.port"] == 8443
    assert attributes["client.address"] == "203.0.113.9"
    assert attributes["url.scheme"] == "https"
    assert "url.query" not in attributes


def test_incoming_traceparent_is_the_parent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TestClient(traced_app(provider)) as client:
        client.get("/items/1", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=x"})
    span = only_span(exporter)
    assert span.context is not None
    assert span.context.trace_id == int(TRACE_ID, 16)
    assert span.parent is not None
    assert span.parent.span_id == int(PARENT_ID, 16)
    assert span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "x"


def test_without_traceparent_a_new_trace_starts(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TestClient(traced_app(provider)) as client:
        client.get("/items/1")
    span = only_span(exporter)
    assert span.parent is None
    assert span.context is not None
    assert span.context.trace_id != int(TRACE_ID, 16)


def test_handler_exception_gives_error_status_and_exception_event(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TestClient(traced_app(provider)) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    span = only_span(exporter)
    assert span.name == "GET /boom"
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})["http.response.status_code"] == 500
    events = [event for event in span.events if event.name == "exception"]
    assert len(events) == 1
    event_attributes = dict(events[0].attributes or {})
    assert event_attributes["exception.type"] == "RuntimeError"
    assert event_attributes["exception.message"] == "kaboom"


async def test_exception_leaving_the_app_is_recorded_and_reraised(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise ValueError("inner middleware broke")

    middleware = TracingMiddleware(broken, tracer_provider=provider)
    with pytest.raises(ValueError, match="inner middleware broke"):
        await middleware(http_scope("/x"), None, None)  # type: ignore[arg-type]
    span = only_span(exporter)
    assert span.name == "GET"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ValueError: inner middleware broke"
    assert [event.name for event in span.events] == ["exception"]


def test_unmatched_request_keeps_the_method_as_name(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TestClient(traced_app(provider)) as client:
        assert client.get("/no/such/secret-path").status_code == 404
    span = only_span(exporter)
    assert span.name == "GET"
    assert "secret-path" not in span.name
    attributes = dict(span.attributes or {})
    assert "http.route" not in attributes
    assert attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.UNSET  # 4xx is the client's error


def test_user_span_in_a_handler_is_a_child(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    with TestClient(traced_app(provider)) as client:
        client.get("/nested", headers={"traceparent": TRACEPARENT})
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"GET /nested", "load item"}
    server, child = spans["GET /nested"], spans["load item"]
    assert server.context is not None
    assert child.parent is not None
    assert child.parent.span_id == server.context.span_id
    assert child.context is not None
    assert child.context.trace_id == int(TRACE_ID, 16)


def test_websocket_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    with TestClient(traced_app(provider)) as client, client.websocket_connect("/ws/ada") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "ada: hi"
    span = only_span(exporter)
    assert span.name == "GET /ws/<name>"
    assert span.kind is SpanKind.SERVER
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/ws/<name>"
    assert attributes["url.scheme"] == "ws"
    assert attributes[WEBSOCKET_CLOSE_CODE] == 4001


def test_lifespan_makes_no_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
    with TestClient(traced_app(provider)):
        pass
    assert exporter.get_finished_spans() == ()


def test_missing_opentelemetry_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"pip install 'aaf\[tracing\]'"):
        TracingMiddleware(traced_app(TracerProvider()))


async def test_unknown_method_is_other_so_clients_cannot_mint_span_names(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    await call(traced_app(provider), http_scope("/items/1", method="BREW"))
    span = only_span(exporter)
    assert span.name == "_OTHER"
    attributes = dict(span.attributes or {})
    assert attributes["http.request.method"] == "_OTHER"
    assert attributes["http.request.method_original"] == "BREW"
