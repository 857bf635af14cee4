"""In-process benchmark: call ASGI apps directly (no network) and compare them.

Every framework answers the same cases; each app is checked for the right answer before it is
timed. Prints microseconds per request and the ratio to the hand-written raw ASGI app, in one
table, for every framework installed (``pip install -e '.[bench]'`` for the peers).

    python bench/inprocess.py                 # all cases, all installed frameworks
    python bench/inprocess.py --quick         # fewer rounds (a smoke run)
    python bench/inprocess.py --scaling       # aaf's param route with 10/100/1000 routes
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aaf.lifespan import LifespanClient

FRAMEWORKS = ["raw", "aaf", "starlette", "fastapi", "litestar", "blacksheep", "falcon"]
ECHO_BODY = b'{"name":"aaf","tags":["fast","small"],"count":3,"nested":{"ok":true}}'


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: bytes
    expected_body: bytes
    content_type: bytes | None = None


CASES = [
    Case("hello", "GET", "/hello", b"", b"Hello, world!"),
    Case("param", "GET", "/items/42", b"", b'{"id":42}'),
    Case("echo", "POST", "/echo", ECHO_BODY, ECHO_BODY, b"application/json"),
]


def request_scope_factory(
    headers: list[tuple[bytes, bytes]], **changes: Any
) -> Callable[[], dict[str, Any]]:
    """Fresh HTTP scopes as a server builds them (``changes`` sets method, path, query...)."""
    template = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "state": {},
        **changes,
    }

    def factory() -> dict[str, Any]:
        # A server builds a fresh scope (and header list) for every request.
        scope = dict(template)
        scope["headers"] = list(headers)
        return scope

    return factory


def make_scope_factory(case: Case) -> Callable[[], dict[str, Any]]:
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
    ]
    if case.body:
        headers.append((b"content-length", str(len(case.body)).encode()))
    if case.content_type:
        headers.append((b"content-type", case.content_type))
    return request_scope_factory(
        headers, method=case.method, path=case.path, raw_path=case.path.encode()
    )


class Sink:
    """The server side of one request: a receive() with the body and a send() that records."""

    def __init__(self, body: bytes) -> None:
        self.message = {"type": "http.request", "body": body, "more_body": False}
        self.status = 0
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        return self.message

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        else:
            self.body += message.get("body", b"")


async def check(app: Any, case: Case, framework: str) -> None:
    sink = Sink(case.body)
    await app(make_scope_factory(case)(), sink.receive, sink.send)
    if sink.status != 200 or sink.body.replace(b" ", b"") != case.expected_body.replace(b" ", b""):
        raise SystemExit(
            f"{framework}/{case.name} answered {sink.status} {sink.body[:200]!r}; "
            f"expected 200 {case.expected_body!r}"
        )


async def time_app(app: Any, case: Case, rounds: int, per_round: int) -> float:
    """Median microseconds per request over ``rounds`` rounds."""
    return await time_requests(app, make_scope_factory(case), case.body, rounds, per_round)


async def time_requests(
    app: Any, factory: Callable[[], dict[str, Any]], body: bytes, rounds: int, per_round: int
) -> float:
    """Median microseconds per request of ``app`` on fresh scopes from ``factory``."""
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(per_round // 10):  # warm-up
        await app(factory(), receive, send)
    samples = []
    gc.collect()
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(per_round):
            await app(factory(), receive, send)
        samples.append((time.perf_counter_ns() - start) / per_round / 1000)
    return statistics.median(samples)


def load(framework: str) -> Any | None:
    try:
        return importlib.import_module(
            f"bench.apps.{framework}_app" if framework != "raw" else "bench.apps.raw"
        )
    except ImportError as exc:
        print(f"  ({framework} skipped: {exc})", file=sys.stderr)
        return None


async def build_started(module: Any, case: Case, routes: int) -> tuple[Any, LifespanClient]:
    app = module.build(case.name, routes)
    lifespan = LifespanClient("bench", app)
    await lifespan.startup({})
    return app, lifespan


async def run(frameworks: list[str], rounds: int, per_round: int, routes: int) -> None:
    results: dict[tuple[str, str], float] = {}
    for framework in frameworks:
        module = load(framework)
        if module is None:
            continue
        for case in CASES:
            app, lifespan = await build_started(module, case, routes)
            await check(app, case, framework)
            results[framework, case.name] = await time_app(app, case, rounds, per_round)
            await lifespan.shutdown()
    print(
        f"\nIn-process, µs per request (median of {rounds} rounds x {per_round}); "
        f"param route is the last of {routes} routes"
    )
    print(f"{'framework':<12}" + "".join(f"{c.name:>18}" for c in CASES))
    for framework in frameworks:
        if (framework, CASES[0].name) not in results:
            continue
        cells = []
        for case in CASES:
            us = results[framework, case.name]
            ratio = us / results["raw", case.name]
            cells.append(f"{us:8.2f} ({ratio:4.2f}x)")
        print(f"{framework:<12}" + "".join(f"{cell:>18}" for cell in cells))
    print("(ratio = time / raw ASGI app time in the same run; lower is better)")


async def scaling(rounds: int, per_round: int) -> None:
    module = load("aaf")
    case = CASES[1]
    print("\naaf param route (the last registered) vs route-table size")
    base = None
    for routes in (10, 100, 1000):
        app, lifespan = await build_started(module, case, routes)
        await check(app, case, "aaf")
        us = await time_app(app, case, rounds, per_round)
        await lifespan.shutdown()
        base = base or us
        print(f"  {routes:>5} routes: {us:6.2f} µs ({(us / base - 1) * 100:+5.1f}% vs 10 routes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--scaling", action="store_true", help="route-table size check only")
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    args = parser.parse_args()
    rounds, per_round = (3, 2000) if args.quick else (7, 20000)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.scaling:
        asyncio.run(scaling(rounds, per_round))
        return
    frameworks = args.frameworks.split(",")
    if "raw" not in frameworks:
        frameworks.insert(0, "raw")
    asyncio.run(run(frameworks, rounds, per_round, args.routes))
    asyncio.run(scaling(rounds, per_round))


if __name__ == "__main__":
    main()
