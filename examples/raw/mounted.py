"""Every raw app, unchanged, mounted under a prefix of one aaf app.

    aaf run examples.raw.mounted:app
    curl localhost:8000/hello   curl -d hi localhost:8000/echo   curl -N localhost:8000/stream

A mounted app gets the request as the server sent it, with ``root_path`` extended by the
prefix (``path`` keeps the full path, as the ASGI spec says); lifespan events are forwarded to
those that speak the protocol (the printer does; the others decline it by raising).
"""

from __future__ import annotations

from aaf import Connection, Router, aaf

from . import echo, hello, long_job, printer, stream

MOUNTS = {
    "/hello": hello.app,
    "/echo": echo.app,
    "/stream": stream.app,
    "/job": long_job.app,
    "/printer": printer.app,
}

router = Router()


@router.get("/")
async def index(conn: Connection) -> dict[str, list[str]]:
    return {"apps": list(MOUNTS)}


for prefix, raw_app in MOUNTS.items():
    router.mount(prefix, raw_app)

app = aaf([router])
