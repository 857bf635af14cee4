"""A ``problem_details=True`` app whose WebSocket handshakes are refused, served by real servers
in the integration tests (``tests.support.problem_ws_app:app``)."""

from __future__ import annotations

from aaf import Connection, Router, aaf

router = Router()


@router.websocket("/broken")
async def broken(conn: Connection) -> None:
    raise RuntimeError("a bug before accept()")


app = aaf([router], problem_details=True)
