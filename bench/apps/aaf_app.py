"""The benchmark cases written with aaf."""

from __future__ import annotations

from typing import Any

from aaf import Connection, HttpResponse, Router, aaf

from ._common import ROUTE_PREFIXES


def build(case: str, routes: int) -> Any:
    router = Router()
    if case == "hello":

        @router.get("/hello")
        async def hello(conn: Connection) -> HttpResponse:
            return HttpResponse("Hello, world!")

    elif case == "param":
        for i, prefix in enumerate(ROUTE_PREFIXES[: routes - 1]):

            async def other(conn: Connection, id: int) -> dict[str, int]:
                return {"other": id}

            router.add_route(f"/{prefix}/<int:id>", other, f"r{i}", ["GET"])

        @router.get("/items/<int:id>")
        async def item(conn: Connection, id: int) -> dict[str, int]:
            return {"id": id}

    else:

        @router.post("/echo")
        async def echo(conn: Connection) -> Any:
            return await conn.json()

    return aaf([router])
