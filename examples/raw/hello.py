"""Hello, world: one response start, one body.  ``aaf run examples.raw.hello:app``"""

from __future__ import annotations

from .asgi_types import Receive, Scope, Send, only_http

BODY = b"Hello, world"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    only_http(scope)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(BODY)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BODY})
