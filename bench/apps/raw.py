"""The floor: hand-written ASGI apps doing the same work as the framework versions."""

from __future__ import annotations

from typing import Any

import msgspec

from ._common import ROUTE_PREFIXES

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_NOT_FOUND = [(b"content-type", b"text/plain"), (b"content-length", b"9")]


async def _not_found(send: Any) -> None:
    await send({"type": "http.response.start", "status": 404, "headers": _NOT_FOUND})
    await send({"type": "http.response.body", "body": b"Not Found"})


def build(case: str, routes: int) -> Any:
    if case == "hello":

        async def hello(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            if scope["path"] == "/hello" and scope["method"] == "GET":
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", b"13"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b"Hello, world!"})
            else:
                await _not_found(send)

        return hello

    if case == "param":
        prefixes = {f"/{p}/" for p in ROUTE_PREFIXES[: routes - 1]} | {"/items/"}

        async def param(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            path: str = scope["path"]
            head, _, tail = path.rpartition("/")
            if scope["method"] == "GET" and head + "/" in prefixes and tail.isdigit():
                body = _encode({"id": int(tail)})
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            else:
                await _not_found(send)

        return param

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/echo" or scope["method"] != "POST":
            await _not_found(send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        data = _decode(b"".join(chunks))
        body = _encode(data)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return echo
