"""The benchmark cases written with Litestar."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get, post

from ._common import ROUTE_PREFIXES


def build(case: str, routes: int) -> Any:
    if case == "hello":

        @get("/hello")
        async def hello() -> str:
            return "Hello, world!"

        return Litestar([hello], openapi_config=None)
    if case == "param":
        handlers = []
        for prefix in ROUTE_PREFIXES[: routes - 1]:

            @get(f"/{prefix}/{{id:int}}", name=f"h_{prefix}")
            async def other(id: int) -> dict[str, int]:
                return {"other": id}

            handlers.append(other)

        @get("/items/{id:int}")
        async def item(id: int) -> dict[str, int]:
            return {"id": id}

        return Litestar([*handlers, item], openapi_config=None)

    @post("/echo", status_code=200)
    async def echo(request: Request[Any, Any, Any]) -> Any:
        return await request.json()

    return Litestar([echo], openapi_config=None)
