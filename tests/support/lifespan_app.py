"""An app whose state comes from three places (integration tests of the lifespan state):
``app.state`` set at import time, a startup hook, and what the lifespan yields."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aaf import App, Connection, Router, aaf

router = Router()


@router.get("/state")
async def state(conn: Connection) -> Any:
    return {"conn_state": dict(conn.state), "app_state": dict(app.state)}


@contextlib.asynccontextmanager
async def lifespan(app: App) -> AsyncIterator[dict[str, Any]]:
    yield {"db": "connected", "overridden": "by the lifespan"}


def startup() -> None:
    app.state["pool"] = "open"


app = aaf([router], lifespan=lifespan, on_startup=[startup])
app.state["config"] = "from import"
app.state["overridden"] = "at import"
