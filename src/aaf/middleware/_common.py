"""Small helpers the middleware share: header lookups on raw ASGI headers, Vary, short answers."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._types import RawHeaders, Receive, Send

_TEXT = b"text/plain; charset=utf-8"
MIN_KEY_BYTES = 16


def derive_keys(
    secret_key: str | bytes | Sequence[str | bytes], purpose: bytes, owner: str
) -> list[bytes]:
    """Signing keys from one secret or a list of them (newest first), one per secret.

    APPSEC: each key is derived for ``purpose``, so one secret shared by several middleware
    signs differently in each and a value signed by one is never valid in another.
    """
    secrets = [secret_key] if isinstance(secret_key, str | bytes) else list(secret_key)
    if not secrets:
        raise ValueError(f"{owner} needs a secret_key (e.g. secrets.token_urlsafe(32))")
    keys: list[bytes] = []
    for secret in secrets:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < MIN_KEY_BYTES:
            raise ValueError(
                f"{owner} secret keys must be at least {MIN_KEY_BYTES} bytes; make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        keys.append(hmac.new(raw, purpose, hashlib.sha256).digest())
    return keys


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
