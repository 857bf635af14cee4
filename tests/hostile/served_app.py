"""The app the hostile-input integration tests run under real ASGI servers."""

from __future__ import annotations

from typing import Any

from aaf import Router, UploadFile, aaf
from aaf.connection import Connection

router = Router()


@router.post("/form")
async def form(conn: Connection) -> Any:
    data = await conn.form()
    return {
        key: [v.filename if isinstance(v, UploadFile) else v for v in data.getlist(key)]
        for key in data
    }


@router.post("/body")
async def body(conn: Connection) -> Any:
    return {"size": len(await conn.body())}


@router.get("/ping")
async def ping(conn: Connection) -> str:
    return "pong"


app = aaf([router])
