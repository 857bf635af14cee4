"""Prometheus metrics: series by route rule, status classes, gauges, the exposition endpoint."""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from aaf import Connection, EventSourceResponse, HttpResponse, Middleware, Router, aaf
from aaf.background import BackgroundRunner, BackgroundTask
from aaf.broadcast import Broadcast
from aaf.middleware.metrics import MetricsMiddleware, metrics_app
from aaf.testing import AsyncTestClient, TestClient, aiter_sse


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def build(registry: CollectorRegistry, **options: Any) -> Any:
    router = Router()

    @router.get("/items/<int:item_id>")
    async def item(conn: Connection, item_id: int) -> HttpResponse:
        status = 201 if item_id == 201 else 200
        return HttpResponse(b"item", status_code=status)

    @router.get("/broken")
    async def broken(conn: Connection) -> HttpResponse:
        raise RuntimeError("boom")

    router.mount("/metrics", metrics_app(registry))
    return aaf([router], middleware=[Middleware(MetricsMiddleware, registry=registry, **options)])


def test_requests_are_counted_by_route_rule_not_raw_path() -> None:
    registry = CollectorRegistry()
    with TestClient(build(registry)) as client:
        assert client.get("/items/1").status_code == 200
        assert client.get("/items/2").status_code == 200
    labels = {"method": "GET", "route": "/items/<int:item_id>", "status_class": "2xx"}
    assert value(registry, "aaf_requests_total", **labels) == 2
    families = {f.name: f for f in registry.collect()}
    series = [s for s in families["aaf_requests"].samples if s.name == "aaf_requests_total"]
    assert len(series) == 1


def test_status_classes_and_unmatched_routes() -> None:
    registry = CollectorRegistry()
    with TestClient(build(registry)) as client:
        assert client.get("/items/201").status_code == 201
        assert client.get("/nowhere/at/all").status_code == 404
        assert client.get("/broken").status_code == 500
        assert client.request("BREW", "/items/1").status_code in (404, 405, 501)
    assert value(registry, "aaf_requests_total", method="GET", route="/items/<int:item_id>",
                 status_class="2xx") == 1  # fmt: skip
    assert value(registry, "aaf_requests_total", method="GET", route="<unmatched>",
                 status_class="4xx") == 1  # fmt: skip
    assert value(registry, "aaf_requests_total", method="GET", route="/broken",
                 status_class="5xx") == 1  # fmt: skip
    methods = [
        s.labels["method"]
        for f in registry.collect()
        for s in f.samples
        if s.name == "aaf_requests_total"
    ]
    assert methods.count("OTHER") == 1
    assert "BREW" not in methods


def test_in_flight_goes_up_during_a_request_and_back_to_zero() -> None:
    registry = CollectorRegistry()
    seen: list[float] = []
    router = Router()

    @router.get("/peek")
    async def peek(conn: Connection) -> HttpResponse:
        seen.append(value(registry, "aaf_requests_in_flight"))
        return HttpResponse(b"ok")

    app = aaf([router], middleware=[Middleware(MetricsMiddleware, registry=registry)])
    with TestClient(app) as client:
        client.get("/peek")
        client.get("/peek")
    assert seen == [1.0, 1.0]
    assert value(registry, "aaf_requests_in_flight") == 0


def test_histogram_counts_every_request() -> None:
    registry = CollectorRegistry()
    with TestClient(build(registry)) as client:
        for item_id in range(5):
            client.get(f"/items/{item_id}")
    labels = {"method": "GET", "route": "/items/<int:item_id>"}
    assert value(registry, "aaf_request_duration_seconds_count", **labels) == 5
    assert value(registry, "aaf_request_duration_seconds_bucket", le="+Inf", **labels) == 5


async def test_websocket_gauge_is_up_while_open_and_down_after() -> None:
    registry = CollectorRegistry()
    router = Router()

    @router.websocket("/echo")
    async def echo(conn: Any) -> None:
        await conn.accept()
        async for message in conn.iter_text():
            await conn.send_text(message)

    app = aaf([router], middleware=[Middleware(MetricsMiddleware, registry=registry)])
    async with AsyncTestClient(app) as client:
        async with client.websocket_connect("/echo") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "hi"
            assert value(registry, "aaf_websockets_open") == 1
        for _ in range(100):  # the handler ends after the client's close reaches it
            if value(registry, "aaf_websockets_open") == 0:
                break
            await asyncio.sleep(0)
        assert value(registry, "aaf_websockets_open") == 0


async def test_sse_gauge_counts_streams_while_they_stream() -> None:
    registry = CollectorRegistry()
    router = Router()
    release = asyncio.Event()

    @router.get("/events")
    async def events(conn: Connection) -> EventSourceResponse:
        async def stream() -> AsyncIterator[str]:
            yield "first"
            await release.wait()
            yield "last"

        return EventSourceResponse(stream())

    app = aaf([router], middleware=[Middleware(MetricsMiddleware, registry=registry)])
    async with AsyncTestClient(app) as client, client.stream("GET", "/events") as response:
        received = aiter_sse(response)
        assert (await anext(received)).data == "first"
        assert value(registry, "aaf_sse_streams_open") == 1
        release.set()
        assert [event.data async for event in received] == ["last"]
    assert value(registry, "aaf_sse_streams_open") == 0
    assert value(registry, "aaf_requests_in_flight") == 0


async def test_background_and_broadcast_are_read_when_scraped() -> None:
    registry = CollectorRegistry()
    runner = BackgroundRunner()
    broadcast = Broadcast(max_queue=2)
    build(registry, background=lambda: runner, broadcast=broadcast)
    async with broadcast, broadcast.subscribe("news"):
        for n in range(5):
            await broadcast.publish("news", str(n))
        assert value(registry, "aaf_broadcast_dropped_messages_total") == 3
        assert value(registry, "aaf_broadcast_lagging_subscribers") == 1
    # A closed subscription's drops still count; nobody lags any more.
    assert value(registry, "aaf_broadcast_dropped_messages_total") == 3
    assert value(registry, "aaf_broadcast_lagging_subscribers") == 0
    gate = asyncio.Event()

    async def wait() -> None:
        await gate.wait()

    batch = asyncio.create_task(runner.run([BackgroundTask(wait, (), {})], "test"))
    await asyncio.sleep(0)
    assert value(registry, "aaf_background_batches_running") == 1
    gate.set()
    await batch
    assert value(registry, "aaf_background_batches_running") == 0


def test_unwatched_state_is_not_exported() -> None:
    registry = CollectorRegistry()
    build(registry)
    names = {family.name for family in registry.collect()}
    assert "aaf_requests" in names
    assert "aaf_background_batches_running" not in names


def test_exposition_endpoint_serves_the_text_format() -> None:
    registry = CollectorRegistry()
    with TestClient(build(registry)) as client:
        client.get("/items/7")
        response = client.get("/metrics")
        head = client.head("/metrics")
        refused = client.post("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert head.status_code == 200
    assert head.content == b""
    assert refused.status_code == 405
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert {
        "aaf_requests",
        "aaf_request_duration_seconds",
        "aaf_requests_in_flight",
        "aaf_websockets_open",
        "aaf_sse_streams_open",
    } <= set(families)
    counted = {
        (s.labels["route"], s.value)
        for s in families["aaf_requests"].samples
        if s.name == "aaf_requests_total" and s.labels["status_class"] == "2xx"
    }
    assert ("/items/<int:item_id>", 1.0) in counted


def test_two_apps_on_one_registry_share_the_series() -> None:
    registry = CollectorRegistry()
    with TestClient(build(registry)) as first, TestClient(build(registry)) as second:
        first.get("/items/1")
        second.get("/items/1")
    labels = {"method": "GET", "route": "/items/<int:item_id>", "status_class": "2xx"}
    assert value(registry, "aaf_requests_total", **labels) == 2


def test_a_missing_prometheus_client_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_import = builtins.__import__

    def no_prometheus(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("prometheus_client"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_prometheus)
    with pytest.raises(ImportError, match=r"pip install 'aaf\[metrics\]'"):
        MetricsMiddleware(HttpResponse(b""))
    with pytest.raises(ImportError, match=r"pip install 'aaf\[metrics\]'"):
        metrics_app()


def test_a_multiprocess_dir_set_too_late_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # prometheus_client chose single-process values at import: no worker would write files.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="set after prometheus_client was imported"):
        metrics_app()
    assert metrics_app(CollectorRegistry()) is not None  # an explicit registry is single-process
