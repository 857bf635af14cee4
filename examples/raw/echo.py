"""Echo the request body back.  ``aaf run examples.raw.echo:app``

The body arrives in ``http.request`` messages; ``more_body`` says whether more follow, so the
app loops until it is false. Bytes are counted as they arrive: a client that sends more than
``MAX_BODY`` gets 413 and the rest is never read.
"""

from __future__ import annotations

from .asgi_types import Receive, Scope, Send, only_http

MAX_BODY = 1024 * 1024


async def respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    only_http(scope)
    chunks: list[bytes] = []
    received = 0
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # the client left: there is nobody to answer
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        # APPSEC: count what actually arrived; a Content-Length header may lie or be absent.
        if received > MAX_BODY:
            await respond(send, 413, b"request body too large", b"text/plain; charset=utf-8")
            return
        chunks.append(chunk)
        more_body = message.get("more_body", False)
    # APPSEC: always octet-stream: echoing the client's Content-Type would let it choose how a
    # browser renders the reply (text/html, for one).
    await respond(send, 200, b"".join(chunks), b"application/octet-stream")
