"""An app with metrics, for the multiprocess test (gunicorn workers import it after forking).

PROMETHEUS_MULTIPROC_DIR comes from the test's environment, so it is set before
prometheus_client is imported, as multiprocess mode requires.
"""

from __future__ import annotations

from aaf import Connection, HttpResponse, Middleware, Router, aaf
from aaf.middleware.metrics import MetricsMiddleware, metrics_app

router = Router()


@router.get("/items/<int:item_id>")
async def item(conn: Connection, item_id: int) -> HttpResponse:
    return HttpResponse(f"item {item_id}".encode())


router.mount("/metrics", metrics_app())
app = aaf([router], middleware=[Middleware(MetricsMiddleware)])
