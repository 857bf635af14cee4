"""Prometheus metrics: requests by route rule, latency, in-flight work, open streams.

    from aaf.middleware.metrics import MetricsMiddleware, metrics_app

    router.mount("/metrics", metrics_app())
    observe = Middleware(MetricsMiddleware, background=lambda: app.background)
    app = aaf([router], middleware=[observe])

Needs ``prometheus_client`` (``pip install 'aaf[metrics]'``); nothing is imported or counted
unless this middleware is in the chain. Series:

- ``aaf_requests_total{method, route, status_class}``: HTTP requests answered. ``route`` is the
  route RULE (``/items/<int:item_id>``), or ``<unmatched>`` for 404s and mounts; ``method`` is a
  standard method or ``OTHER``. APPSEC: never the raw path or method, so clients cannot grow the
  number of series.
- ``aaf_request_duration_seconds{method, route}``: histogram, until the app returned (a stream's
  whole duration).
- ``aaf_requests_in_flight``, ``aaf_websockets_open`` (accepted, until the app returns),
  ``aaf_sse_streams_open`` (responses of type ``text/event-stream``, while streaming).
- ``aaf_background_batches_running`` (with ``background=``),
  ``aaf_broadcast_dropped_messages_total`` and ``aaf_broadcast_lagging_subscribers`` (with
  ``broadcast=``): read when scraped.

Multiprocess (gunicorn workers): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before
the process imports ``prometheus_client``; ``metrics_app()`` then merges every worker's files.
Per prometheus_client's multiprocess rules, the read-when-scraped series (background,
broadcast) are not exported in that mode.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..app import ROUTE_SCOPE_KEY

if TYPE_CHECKING:
    from .._types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["UNMATCHED", "MetricsMiddleware", "metrics_app"]

#: The ``route`` label of requests no route answered (404s, mounted apps).
UNMATCHED = "<unmatched>"
INSTALL_HINT = "pip install 'aaf[metrics]'"
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
)
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def prometheus() -> Any:
    """The ``prometheus_client`` module, imported on first use (it is an optional extra)."""
    try:
        import prometheus_client
        import prometheus_client.multiprocess
    except ImportError as exc:
        raise ImportError(
            f"aaf metrics need the prometheus_client package: {INSTALL_HINT}"
        ) from exc
    return prometheus_client


class _HasPending(Protocol):
    @property
    def pending(self) -> int: ...


class _HasDrops(Protocol):
    @property
    def dropped(self) -> int: ...

    @property
    def lagging_subscribers(self) -> int: ...


BackgroundSource = _HasPending | Callable[[], _HasPending]


class _StateCollector:
    """Series read from aaf's objects when scraped: nothing is counted per request for them."""

    def __init__(self, pc: Any) -> None:
        self.pc = pc
        self.backgrounds: list[BackgroundSource] = []
        self.broadcasts: list[_HasDrops] = []

    def _families(self, background: float, dropped: float, lagging: float) -> Iterator[Any]:
        pc = self.pc.metrics_core
        yield pc.GaugeMetricFamily(
            "aaf_background_batches_running",
            "Batches of background tasks still running.",
            value=background,
        )
        yield pc.CounterMetricFamily(
            "aaf_broadcast_dropped_messages",
            "Broadcast messages dropped because a subscriber fell max_queue behind.",
            value=dropped,
        )
        yield pc.GaugeMetricFamily(
            "aaf_broadcast_lagging_subscribers",
            "Broadcast subscriptions whose queue is full.",
            value=lagging,
        )

    def describe(self) -> Iterator[Any]:
        return self._families(0, 0, 0)

    def collect(self) -> Iterator[Any]:
        background = sum(
            (source if hasattr(source, "pending") else source()).pending
            for source in self.backgrounds
        )
        dropped = sum(broadcast.dropped for broadcast in self.broadcasts)
        lagging = sum(broadcast.lagging_subscribers for broadcast in self.broadcasts)
        for family in self._families(background, dropped, lagging):
            # A series appears only when its source was given: a 0 would claim it is watched.
            watched = self.backgrounds if "background" in family.name else self.broadcasts
            if watched:
                yield family


class _Metrics:
    """The series of one registry (shared by every middleware using that registry)."""

    def __init__(self, pc: Any, registry: Any, buckets: Sequence[float]) -> None:
        self.requests = pc.Counter(
            "aaf_requests",
            "HTTP requests answered, by route rule and status class.",
            ["method", "route", "status_class"],
            registry=registry,
        )
        self.duration = pc.Histogram(
            "aaf_request_duration_seconds",
            "Time until the app returned (a stream's whole duration), by route rule.",
            ["method", "route"],
            registry=registry,
            buckets=buckets,
        )
        # livesum: in multiprocess mode, the sum over the workers still alive.
        self.in_flight = pc.Gauge(
            "aaf_requests_in_flight",
            "HTTP requests being handled.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.websockets = pc.Gauge(
            "aaf_websockets_open",
            "WebSockets accepted whose handler is still running.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.sse = pc.Gauge(
            "aaf_sse_streams_open",
            "text/event-stream responses still streaming.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.state = _StateCollector(pc)
        registry.register(self.state)


# Registering a name twice in one registry fails, so apps built twice share the series.
_BY_REGISTRY: weakref.WeakKeyDictionary[Any, _Metrics] = weakref.WeakKeyDictionary()


def _metrics_for(pc: Any, registry: Any, buckets: Sequence[float]) -> _Metrics:
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = _BY_REGISTRY[registry] = _Metrics(pc, registry, buckets)
    return found


class MetricsMiddleware:
    """Counts HTTP requests, WebSockets and SSE streams into a Prometheus registry.

    Args:
        registry: a ``prometheus_client.CollectorRegistry`` (default: the global ``REGISTRY``).
        background: the app's ``BackgroundRunner``, or a function returning it (the app is
            built after its middleware list: ``background=lambda: app.background``).
        broadcast: an ``aaf.broadcast.Broadcast`` whose drops and lagging subscribers to export.
        buckets: histogram buckets in seconds (used when the registry gets its series).
    """

    # The app leaves the matched route in scope["aaf.route"] for this middleware.
    needs_route = True

    def __init__(
        self,
        app: ASGIApp,
        registry: Any = None,
        *,
        background: BackgroundSource | None = None,
        broadcast: _HasDrops | None = None,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        pc = prometheus()
        self.app = app
        self.registry = pc.REGISTRY if registry is None else registry
        self.metrics = _metrics_for(pc, self.registry, buckets)
        if background is not None:
            self.metrics.state.backgrounds.append(background)
        if broadcast is not None:
            self.metrics.state.broadcasts.append(broadcast)
        # PERF: .labels() builds a key and takes a lock; the children are cached here instead
        # (bounded: methods x route rules x status classes).
        self._counts: dict[tuple[str, str, str], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics
        # An app that raises or returns without answering gets a 500 from the server.
        status = 500
        streaming_sse = False

        async def observed_send(message: Message) -> None:
            nonlocal status, streaming_sse
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        if value.lower().startswith(b"text/event-stream"):
                            streaming_sse = True
                            metrics.sse.inc()
                        break
            await send(message)

        metrics.in_flight.inc()
        start = time.perf_counter()
        try:
            await self.app(scope, receive, observed_send)
        finally:
            elapsed = time.perf_counter() - start
            metrics.in_flight.dec()
            if streaming_sse:
                metrics.sse.dec()
            self._record(scope, status, elapsed)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = scope.get(ROUTE_SCOPE_KEY)
        rule: str = UNMATCHED if route is None else route.rule
        method: str = scope["method"]
        if method not in KNOWN_METHODS:
            method = "OTHER"
        status_class = STATUS_CLASSES.get(status // 100, "other")
        key = (method, rule, status_class)
        counter = self._counts.get(key)
        if counter is None:
            counter = self._counts[key] = self.metrics.requests.labels(*key)
        counter.inc()
        timing_key = (method, rule)
        histogram = self._durations.get(timing_key)
        if histogram is None:
            histogram = self._durations[timing_key] = self.metrics.duration.labels(*timing_key)
        histogram.observe(elapsed)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        gauge = self.metrics.websockets
        accepted = False

        async def observed_send(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                gauge.inc()
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            if accepted:
                gauge.dec()


def metrics_app(registry: Any = None) -> ASGIApp:
    """An ASGI app serving the metrics in Prometheus' text format: mount it at ``/metrics``.

    With ``PROMETHEUS_MULTIPROC_DIR`` set and no ``registry``, every scrape merges the files of
    all worker processes (prometheus_client's ``MultiProcessCollector``).
    """
    pc = prometheus()
    multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if registry is None and multiprocess_dir and pc.values.ValueClass is pc.values.MutexValue:
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported, so this "
            "process writes no metric files; set it in the environment before starting"
        )
    source = pc.REGISTRY if registry is None else registry
    content_type = pc.CONTENT_TYPE_LATEST.encode("latin-1")

    def scrape() -> bytes:
        if registry is None and multiprocess_dir:
            # Documented usage: a fresh registry per scrape, read from the workers' files.
            merged = pc.CollectorRegistry()
            pc.multiprocess.MultiProcessCollector(merged)
            body: bytes = pc.generate_latest(merged)
            return body
        body = pc.generate_latest(source)
        return body

    async def serve_metrics(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        if scope["method"] not in ("GET", "HEAD"):
            headers = [(b"allow", b"GET, HEAD"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = scrape()
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    return serve_metrics


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop; answer the lifespan protocol when mounted with lifespan."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
