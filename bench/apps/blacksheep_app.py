"""The benchmark cases written with BlackSheep."""

from __future__ import annotations

from typing import Any

from blacksheep import Application, Request, json, text

from ._common import ROUTE_PREFIXES


def build(case: str, routes: int) -> Any:
    app = Application(show_error_details=False)
    if case == "hello":

        @app.router.get("/hello")
        async def hello() -> Any:
            return text("Hello, world!")

    elif case == "param":
        for prefix in ROUTE_PREFIXES[: routes - 1]:

            async def other(id: int) -> Any:
                return json({"other": id})

            app.router.add_get(f"/{prefix}/{{int:id}}", other)

        @app.router.get("/items/{int:id}")
        async def item(id: int) -> Any:
            return json({"id": id})

    else:

        @app.router.post("/echo")
        async def echo(request: Request) -> Any:
            return json(await request.json())

    return app
