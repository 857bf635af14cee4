"""The app from docs/design.md's "What it must feel like", unchanged in spirit.

Run it:  aaf run examples.hello.app:app   (or: uvicorn examples.hello.app:app)
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from aaf import Connection, HttpResponse, Router, aaf

router = Router()


@router.route("/")
@router.route("/hello/<name>")  # GET + HEAD by default
async def hello(conn: Connection, name: str = "world") -> HttpResponse:
    return HttpResponse(f"Hello, {name}")


@router.route("/count/<int:number>")  # imperative streaming
async def count(conn: Connection, number: int = 10) -> None:
    for i in range(number):
        await conn.send(f"count {i}\n", finish=False)
        await asyncio.sleep(1)
    await conn.send("", finish=True)


@router.route("/echo", methods=["POST"])
async def echo(conn: Connection) -> None:
    await conn.send(await conn.body(), finish=True)


@router.get("/tasks/<uuid:task_id>", name="task")
async def task(conn: Connection, task_id: UUID) -> dict[str, Any]:
    return {"id": str(task_id)}  # dict / list -> JSON


app = aaf([router])  # an ASGI callable; more routers = fallbacks
