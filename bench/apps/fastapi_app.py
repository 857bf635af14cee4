"""The benchmark cases written with FastAPI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from ._common import ROUTE_PREFIXES


def build(case: str, routes: int) -> Any:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if case == "hello":

        @app.get("/hello", response_class=PlainTextResponse)
        async def hello() -> str:
            return "Hello, world!"

    elif case == "param":
        for prefix in ROUTE_PREFIXES[: routes - 1]:

            async def other(id: int) -> dict[str, int]:
                return {"other": id}

            app.add_api_route(f"/{prefix}/{{id}}", other, methods=["GET"])

        @app.get("/items/{id}")
        async def item(id: int) -> dict[str, int]:
            return {"id": id}

    else:

        @app.post("/echo")
        async def echo(request: Request) -> Any:
            return await request.json()

    return app
