"""A scripted server for one HTTP request whose client leaves when the test says so."""

from __future__ import annotations

import asyncio
from typing import Any

from aaf._types import Message
from tests.conftest import http_scope


class Server:
    """A scripted server for one request: the body, then a disconnect when told."""

    def __init__(self, body: list[bytes] | None = None) -> None:
        self.body = list(body if body is not None else [b""])
        self.gone = asyncio.Event()
        self.sent: list[Message] = []
        self.sent_twice = asyncio.Event()

    async def receive(self) -> Message:
        if self.body:
            chunk = self.body.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(self.body)}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if len(self.sent) == 2:
            self.sent_twice.set()

    @property
    def body_sent(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


async def start(app: Any, server: Server, **scope: Any) -> asyncio.Task[None]:
    return asyncio.ensure_future(app(http_scope(**scope), server.receive, server.send))
