"""The benchmark cases written with Starlette."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from ._common import ROUTE_PREFIXES


def build(case: str, routes: int) -> Any:
    if case == "hello":

        async def hello(request: Request) -> PlainTextResponse:
            return PlainTextResponse("Hello, world!")

        return Starlette(routes=[Route("/hello", hello)])
    if case == "param":

        async def other(request: Request) -> JSONResponse:
            return JSONResponse({"other": request.path_params["id"]})

        async def item(request: Request) -> JSONResponse:
            return JSONResponse({"id": request.path_params["id"]})

        table = [Route(f"/{p}/{{id:int}}", other) for p in ROUTE_PREFIXES[: routes - 1]]
        return Starlette(routes=[*table, Route("/items/{id:int}", item)])

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(await request.json())

    return Starlette(routes=[Route("/echo", echo, methods=["POST"])])
