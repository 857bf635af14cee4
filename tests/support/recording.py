"""What an ASGI app sent, read back as status, headers and body (shared by the test drivers)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any


class SentMessages:
    """``sent`` holds the messages an app sent; the properties read the HTTP response back."""

    def __init__(self) -> None:
        self.sent: list[MutableMapping[str, Any]] = []

    @property
    def status(self) -> int:
        """The response status (0 when nothing was sent)."""
        return int(self.sent[0]["status"]) if self.sent else 0

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])
