"""Small helpers the middleware share: header lookups on raw ASGI headers, Vary, short answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._types import RawHeaders, Receive, Send

_TEXT = b"text/plain; charset=utf-8"


def with_vary(headers: RawHeaders, token: bytes) -> RawHeaders:
    """A copy of ``headers`` whose ``Vary`` lists ``token`` (merged into an existing Vary)."""
    result: RawHeaders = []
    merged = False
    for key, value in headers:
        if key == b"vary" and not merged:
            listed = [item.strip().lower() for item in value.split(b",")]
            if token.lower() not in listed and b"*" not in listed:
                value = value + b", " + token
            merged = True
        result.append((key, value))
    if not merged:
        result.append((b"vary", token))
    return result


async def send_text(
    send: Send,
    status: int,
    text: bytes,
    headers: RawHeaders | None = None,
    content_type: bytes = _TEXT,
) -> None:
    """A complete short answer (text/plain unless ``content_type`` says otherwise)."""
    start: RawHeaders = [(b"content-type", content_type), (b"content-length", b"%d" % len(text))]
    if headers:
        start += headers
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": text})


async def refuse_websocket(receive: Receive, send: Send, reason: str, code: int = 1008) -> None:
    """Close a WebSocket before accepting it (the server answers the handshake with 403)."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": code, "reason": reason})
