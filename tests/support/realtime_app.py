"""An app served by real servers in the integration tests (``tests.support.realtime_app:app``).

A WebSocket echo, an event stream that never ends by itself, and an endpoint that reports
whether the stream's generator has been cleaned up after its client left.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aaf import Connection, EventSourceResponse, Router, ServerSentEvent, aaf

router = Router()
stream_closed = asyncio.Event()


@router.websocket("/echo/<room>")
async def echo(conn: Connection, room: str) -> None:
    await conn.accept(subprotocol="echo" if "echo" in conn.subprotocols else None)
    async for text in conn.iter_text():
        await conn.send_text(f"{room}: {text}")


@router.websocket("/private")
async def private(conn: Connection) -> None:
    if conn.req_headers.get("authorization") != "Bearer ok":
        await conn.deny(401)
        return
    await conn.accept()
    await conn.send_text("welcome")


@router.get("/events")
async def events(conn: Connection) -> EventSourceResponse:
    stream_closed.clear()
    start = int(conn.req_headers.get("last-event-id", "-1")) + 1

    async def numbers() -> AsyncIterator[ServerSentEvent]:
        try:
            for n in range(start, start + 3):
                yield ServerSentEvent({"n": n}, event="number", id=str(n))
            await asyncio.Event().wait()  # idle forever: only pings from here on
            yield ServerSentEvent("unreachable")
        finally:
            stream_closed.set()

    return EventSourceResponse(numbers(), ping_interval=0.05)


@router.get("/events/closed")
async def events_closed(conn: Connection) -> dict[str, bool]:
    try:
        await asyncio.wait_for(stream_closed.wait(), 5)
    except TimeoutError:
        return {"closed": False}
    return {"closed": True}


app = aaf(router)
