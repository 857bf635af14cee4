"""An app with a slow route bounded by ``timeout()``, for the real-server test."""

from __future__ import annotations

import asyncio

from aaf import Connection, Router, aaf
from aaf.timeouts import timeout

router = Router()


@router.get("/slow")
@timeout(0.05)
async def slow(conn: Connection) -> str:
    await asyncio.Event().wait()  # never set: only the deadline ends it
    return "never"


@router.get("/fast")
@timeout(5)
async def fast(conn: Connection) -> str:
    return "fast"


app = aaf([router])
