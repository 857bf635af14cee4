"""An app with the inspector, for the browser test (served by uvicorn on a loopback port)."""

from __future__ import annotations

from aaf import Connection, Middleware, Router, aaf
from aaf.middleware.inspector import InspectorMiddleware

router = Router()


@router.get("/items/<int:item_id>")
async def item(conn: Connection, item_id: int) -> dict[str, int]:
    return {"id": item_id}


app = aaf([router], debug=True, middleware=[Middleware(InspectorMiddleware)])
