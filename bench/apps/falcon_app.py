"""The benchmark cases written with Falcon (ASGI)."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.asgi

from ._common import ROUTE_PREFIXES


class Hello:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, world!"


class Item:
    async def on_get(self, req: Any, resp: Any, id: int) -> None:
        resp.media = {"id": id}


class Echo:
    async def on_post(self, req: Any, resp: Any) -> None:
        resp.media = await req.get_media()


def build(case: str, routes: int) -> Any:
    app = falcon.asgi.App()
    if case == "hello":
        app.add_route("/hello", Hello())
    elif case == "param":
        for prefix in ROUTE_PREFIXES[: routes - 1]:
            app.add_route(f"/{prefix}/{{id:int}}", Item())
        app.add_route("/items/{id:int}", Item())
    else:
        app.add_route("/echo", Echo())
    return app
