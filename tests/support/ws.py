"""Raw ASGI WebSocket helpers: call an app with a scripted server side and record what it sends.

For what the test client does not show: servers without the denial-response extension, exact
message sequences, and messages sent after the client left.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]


def ws_scope(
    path: str = "/",
    *,
    denial_extension: bool = True,
    subprotocols: list[str] | None = None,
    root_path: str = "",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": headers if headers is not None else [(b"host", b"testserver")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "subprotocols": subprotocols or [],
        "extensions": {"websocket.http.response": {}} if denial_extension else {},
    }


class WSDriver:
    """A scripted server: ``receive()`` hands out ``incoming`` in order, then disconnects."""

    def __init__(self, incoming: list[Message] | None = None, *, send_error: bool = False) -> None:
        self.incoming = list(incoming if incoming is not None else [{"type": "websocket.connect"}])
        self.sent: list[Message] = []
        self.send_error = send_error

    async def receive(self) -> Message:
        if self.incoming:
            return self.incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(self, message: Message) -> None:
        if self.send_error and message["type"] == "websocket.send":
            raise OSError("peer gone")  # like uvicorn's ClientDisconnected
        self.sent.append(message)

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]

    @property
    def close(self) -> Message:
        closes = [m for m in self.sent if m["type"] == "websocket.close"]
        assert len(closes) == 1, self.sent
        return closes[0]


async def drive(
    app: Callable[..., Awaitable[None]],
    scope: dict[str, Any],
    incoming: list[Message] | None = None,
    *,
    send_error: bool = False,
) -> WSDriver:
    driver = WSDriver(incoming, send_error=send_error)
    await app(scope, driver.receive, driver.send)
    return driver


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data}


CONNECT: Message = {"type": "websocket.connect"}
