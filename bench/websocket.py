"""In-process WebSocket echo: round trips per second, aaf vs a hand-written ASGI app.

A scripted server hands each app ``websocket.connect``, then N text messages, then a disconnect,
and counts what comes back; no sockets and no queues, so what is measured is the per-message
cost of the framework. Starlette runs too when it is installed (``pip install -e '.[bench]'``).

    python bench/websocket.py            # 7 rounds x 20000 messages
    python bench/websocket.py --quick    # 3 rounds x 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aaf import Connection, Router, aaf

MESSAGE = {"type": "websocket.receive", "text": "hello, echo"}
CONNECT = {"type": "websocket.connect"}
DISCONNECT = {"type": "websocket.disconnect", "code": 1000}


def build_raw() -> Any:
    async def echo(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket" or scope["path"] != "/echo":
            await send({"type": "websocket.close", "code": 1008})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": message["text"]})

    return echo


def build_aaf() -> Any:
    router = Router()

    @router.websocket("/echo")
    async def echo(conn: Connection) -> None:
        await conn.accept()
        async for text in conn.iter_text():
            await conn.send_text(text)

    return aaf(router)


def build_starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    return Starlette(routes=[WebSocketRoute("/echo", echo)])


BUILDERS: dict[str, Callable[[], Any]] = {
    "raw": build_raw,
    "aaf": build_aaf,
    "starlette": build_starlette,
}


class Script:
    """The server side of one connection: connect, ``count`` messages, disconnect."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.given = 0
        self.echoed = 0
        self.last: Any = None

    async def receive(self) -> dict[str, Any]:
        given = self.given
        self.given = given + 1
        if given == 0:
            return CONNECT
        if given <= self.count:
            return MESSAGE
        return DISCONNECT

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.send":
            self.echoed += 1
            self.last = message["text"]


def scope() -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/echo",
        "raw_path": b"/echo",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": [],
        "state": {},
    }


async def one_connection(app: Any, count: int) -> Script:
    script = Script(count)
    await app(scope(), script.receive, script.send)
    return script


async def time_echo(app: Any, rounds: int, per_round: int) -> float:
    """Median round trips per second over ``rounds`` connections of ``per_round`` messages."""
    check = await one_connection(app, 10)
    if check.echoed != 10 or check.last != MESSAGE["text"]:
        raise SystemExit(f"{app!r} echoed {check.echoed} messages, last {check.last!r}")
    await one_connection(app, per_round // 10)  # warm-up
    samples = []
    gc.collect()
    for _ in range(rounds):
        start = time.perf_counter_ns()
        await one_connection(app, per_round)
        samples.append(per_round / ((time.perf_counter_ns() - start) / 1e9))
    return statistics.median(samples)


async def run(frameworks: list[str], rounds: int, per_round: int) -> None:
    results: dict[str, float] = {}
    for name in frameworks:
        try:
            app = BUILDERS[name]()
        except ImportError as exc:
            print(f"  ({name} skipped: {exc})", file=sys.stderr)
            continue
        results[name] = await time_echo(app, rounds, per_round)
    print(f"\nWebSocket echo in-process (median of {rounds} connections x {per_round} messages)")
    print(f"{'framework':<12}{'round trips/s':>16}{'µs each':>10}{'vs raw':>9}")
    for name, per_second in results.items():
        ratio = results["raw"] / per_second
        print(f"{name:<12}{per_second:>16,.0f}{1e6 / per_second:>10.2f}{ratio:>8.2f}x")
    print("(vs raw = time per round trip / raw ASGI app's in the same run; lower is better)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--frameworks", default=",".join(BUILDERS))
    args = parser.parse_args()
    rounds, per_round = (3, 2000) if args.quick else (7, 20000)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    frameworks = [f for f in args.frameworks.split(",") if f != "raw"]
    asyncio.run(run(["raw", *frameworks], rounds, per_round))


if __name__ == "__main__":
    main()
