"""What an ASGI app sent, read back as status, headers and body (shared by the test drivers)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any


class HeaderPairs(list[tuple[bytes, bytes]]):
    """Response headers as sent: (name, value) pairs in order, repeated names kept.

    ``b"name" in headers`` would always be False on a list of pairs, so it is refused: use
    ``SentMessages.header(name)`` (None when absent) or ``header_values(name)``.
    """

    def __contains__(self, item: object) -> bool:
        if isinstance(item, (bytes, str)):
            raise TypeError(
                f"{item!r} in headers: the headers are (name, value) pairs; "
                "use .header(name) is None or .header_values(name)"
            )
        return super().__contains__(item)


class SentMessages:
    """``sent`` holds the messages an app sent; the properties read the HTTP response back.

    A driver that checks the messages stores the first refusal in ``violation``; every reader
    then raises it, so a test cannot pass on a response a real server would have refused (even
    when the app caught the error its ``send()`` raised).
    """

    def __init__(self) -> None:
        self._sent: list[MutableMapping[str, Any]] = []
        self.violation: Exception | None = None

    @property
    def sent(self) -> list[MutableMapping[str, Any]]:
        if self.violation is not None:
            raise self.violation
        return self._sent

    @property
    def status(self) -> int:
        """The response status (0 when nothing was sent)."""
        return int(self.sent[0]["status"]) if self.sent else 0

    @property
    def headers(self) -> HeaderPairs:
        """Every response header, in order; repeated headers stay repeated."""
        return HeaderPairs(self.sent[0]["headers"]) if self.sent else HeaderPairs()

    def header_values(self, name: bytes) -> list[bytes]:
        """Every value sent for the header ``name`` (lower-case bytes), in order."""
        return [value for key, value in self.headers if key == name]

    def header(self, name: bytes) -> bytes | None:
        """The one value of header ``name``; None when absent; fails when it was repeated."""
        values = self.header_values(name)
        assert len(values) <= 1, f"header {name!r} sent {len(values)} times: {values!r}"
        return values[0] if values else None

    def header_once(self, name: bytes) -> bytes:
        """The value of header ``name``, which must have been sent exactly once."""
        value = self.header(name)
        assert value is not None, f"header {name!r} was not sent: {list(self.headers)!r}"
        return value

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])
