"""A chat-room app on top of a Broadcast, shared by the memory and Redis broadcast tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aaf import Connection, Router, aaf
from aaf.broadcast import Broadcast


def chat_app(broadcast: Broadcast) -> Any:
    """Every message a client sends goes to everyone in the same room (the sender too)."""
    router = Router()

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with broadcast:
            yield

    @router.websocket("/chat/<room>")
    async def chat(conn: Connection, room: str) -> None:
        # Subscribe before accepting: once the client is in, it misses nothing.
        async with broadcast.subscribe(room) as subscription:
            await conn.accept()

            async def forward() -> None:
                async for message in subscription:
                    await conn.send_text(message)

            forwarding = asyncio.ensure_future(forward())
            try:
                async for text in conn.iter_text():
                    await broadcast.publish(room, text)
            finally:
                forwarding.cancel()
                await asyncio.wait({forwarding})

    return aaf(router, lifespan=lifespan)
