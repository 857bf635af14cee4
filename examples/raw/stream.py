"""A response sent in chunks as they are produced.  ``aaf run examples.raw.stream:app``

No Content-Length: the server frames the body itself (chunked encoding in HTTP/1.1), and every
``more_body: True`` message reaches the client as soon as it is sent.
"""

from __future__ import annotations

import asyncio

from .asgi_types import Receive, Scope, Send, only_http

CHUNKS = 5
PAUSE_SECONDS = 0.05  # stands in for the work that produces each chunk


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    only_http(scope)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    for number in range(CHUNKS):
        await send(
            {"type": "http.response.body", "body": b"chunk %d\n" % number, "more_body": True}
        )
        await asyncio.sleep(PAUSE_SECONDS)
    await send({"type": "http.response.body", "body": b"", "more_body": False})
