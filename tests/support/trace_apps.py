"""Apps for tests/test_trace.py: ``aaf trace`` loads them as ``tests.support.trace_apps:NAME``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from aaf import Connection, Router, aaf

# ---------------------------------------------------------------- aaf: a WebSocket echo
ws_router = Router()


@ws_router.websocket("/echo")
async def ws_echo(conn: Connection) -> None:
    await conn.accept()
    async for text in conn.iter_text():
        await conn.send_text(f"echo: {text}")


@ws_router.websocket("/bye")
async def ws_bye(conn: Connection) -> None:
    """Answers one frame, then closes the socket itself."""
    await conn.accept()
    text = await conn.receive_text()
    await conn.send_text(f"bye {text}")
    await conn.close(4000)


@ws_router.websocket("/deaf")
async def ws_deaf(conn: Connection) -> None:
    """Accepts, then never reads another message."""
    await conn.accept()
    await asyncio.sleep(3600)


ws_app = aaf([ws_router])


# ---------------------------------------------------------------- Starlette
async def starlette_hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"starlette says hi to {request.query_params.get('name', 'you')}")


starlette_app = Starlette(routes=[Route("/hi", starlette_hello)])


# ---------------------------------------------------------------- errors in the target
@asynccontextmanager
async def _broken_lifespan(app: Any) -> AsyncIterator[None]:
    raise ConnectionError("database unreachable")
    yield  # pragma: no cover - never reached


failing_startup = aaf([ws_router], lifespan=_broken_lifespan)


def _fail_to_stop() -> None:
    raise OSError("could not flush the cache")


failing_shutdown = aaf([ws_router], on_shutdown=[_fail_to_stop])

not_callable = 42


def sync_app(scope: Any, receive: Any, send: Any) -> None:
    return None


async def two_arguments(scope: Any, receive: Any) -> None:
    return None


async def asgi2_style(scope: Any) -> None:
    return None


class AppClass:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        return None


async def raising(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return  # no lifespan
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise ValueError("boom in the middle of the response")


async def silent(scope: Any, receive: Any, send: Any) -> None:
    """Never answers: it only waits for the client to go away."""
    if scope["type"] != "http":
        return
    while (await receive())["type"] != "http.disconnect":
        pass


async def big_body(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 404, "headers": []})
    await send({"type": "http.response.body", "body": b"x" * 1000})


async def no_response(scope: Any, receive: Any, send: Any) -> None:
    """Returns without answering: a server would drop the connection."""
    return None


async def body_first(scope: Any, receive: Any, send: Any) -> None:
    """Breaks the protocol: a body before the response start."""
    if scope["type"] == "http":
        await send({"type": "http.response.body", "body": b"too early"})
