"""An app for the ``aaf run`` tests: a small WebSocket limit, a refused socket, a failing
handler and an INFO line from an aaf logger."""

from __future__ import annotations

import logging

from aaf import Connection, Limits, Router, aaf

#: Small, so a 1 MiB frame is far over it.
WEBSOCKET_LIMIT = 16 * 1024

router = Router()


@router.websocket("/echo")
async def echo(conn: Connection) -> None:
    await conn.accept()
    async for text in conn.iter_text():
        await conn.send_text(text)


@router.websocket("/refused")
async def refused(conn: Connection) -> None:
    await conn.deny(403)


@router.get("/boom")
async def boom(conn: Connection) -> None:
    raise RuntimeError("boom from the run test app")


@router.get("/note")
async def note(conn: Connection) -> str:
    logging.getLogger("aaf.run_test").info("an aaf info line")
    return "noted"


app = aaf([router], limits=Limits(max_websocket_message=WEBSOCKET_LIMIT))
