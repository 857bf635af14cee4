"""The inspector's memory: one record per connection, a bounded ring of them, and listeners.

Everything stored is already JSON-ready (bytes decoded, bodies truncated, secrets redacted), so
a record is copied into the store once and never holds on to the app's objects.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._types import Message, Scope

__all__ = ["ConnectionRecord", "InspectorStore", "Redactor"]

REDACTED = "[redacted]"
UNMATCHED = "<unmatched>"
# Scope keys never copied: the app state may hold secrets and live objects, and the route is
# stored as its rule and handler name instead.
_SKIPPED_SCOPE_KEYS = frozenset(("state", "aaf.route", "app"))


class Redactor:
    """Turns ASGI scopes and messages into JSON-ready dicts, hiding the listed header values."""

    def __init__(self, redact: Iterable[str], body_cap: int) -> None:
        self.redact = frozenset(name.lower().encode("latin-1") for name in redact)
        self.body_cap = body_cap

    def scope(self, scope: Scope) -> dict[str, Any]:
        return {
            key: self.value(key, value)
            for key, value in scope.items()
            if key not in _SKIPPED_SCOPE_KEYS
        }

    def message(self, message: Message) -> dict[str, Any]:
        return {key: self.value(key, value) for key, value in message.items()}

    def value(self, key: str, value: Any) -> Any:
        if key == "headers" and isinstance(value, (list, tuple)):
            return [self._header(pair) for pair in value]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._bytes(bytes(value))
        if isinstance(value, str):
            # Frames are capped; names, paths and header values are bounded by the server.
            return self._text(value) if key == "text" else value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, Mapping):
            return {str(k): self.value(str(k), v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value("", item) for item in value]
        return f"<{type(value).__qualname__}>"  # live objects (extensions): the type only

    def _header(self, pair: Any) -> list[str]:
        name, raw = bytes(pair[0]), bytes(pair[1])
        text = name.decode("latin-1")
        # APPSEC: credentials never reach the inspector's memory, its JSON or its page.
        if name.lower() in self.redact:
            return [text, REDACTED]
        return [text, raw.decode("latin-1")]

    def _bytes(self, data: bytes) -> str | dict[str, Any]:
        if len(data) <= self.body_cap:
            return data.decode("utf-8", errors="replace")
        return {
            "truncated": data[: self.body_cap].decode("utf-8", errors="replace"),
            "size": len(data),
        }

    def _text(self, text: str) -> str | dict[str, Any]:
        if len(text) <= self.body_cap:
            return text
        return {"truncated": text[: self.body_cap], "size": len(text)}


@dataclass
class ConnectionRecord:
    """What the inspector knows about one connection (HTTP, WebSocket or lifespan)."""

    id: int
    kind: str
    method: str | None
    path: str | None
    client: str | None
    scope: dict[str, Any]
    started_at: float = field(default_factory=time.time)
    started: float = field(default_factory=time.perf_counter)
    route: str = UNMATCHED
    handler: str | None = None
    status: int | None = None
    close_code: int | None = None
    duration_ms: float | None = None
    bytes_out: int = 0
    error: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    dropped_events: int = 0

    def add_event(self, direction: str, message: dict[str, Any], limit: int) -> None:
        if len(self.events) >= limit:
            self.dropped_events += 1  # a long WebSocket keeps its first `limit` messages
            return
        offset = (time.perf_counter() - self.started) * 1000
        self.events.append({"t_ms": round(offset, 3), "direction": direction, "message": message})

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.kind,
            "method": self.method,
            "path": self.path,
            "client": self.client,
            "route": self.route,
            "handler": self.handler,
            "status": self.status,
            "close_code": self.close_code,
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "bytes_out": self.bytes_out,
            "error": self.error,
            "done": self.duration_ms is not None,
            "events": len(self.events) + self.dropped_events,
        }

    def detail(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "scope": self.scope,
            "timeline": self.events,
            "dropped_events": self.dropped_events,
        }


class InspectorStore:
    """The last ``capacity`` connections, and the queues of the pages listening for changes."""

    def __init__(self, capacity: int, listener_queue: int = 256) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.capacity = capacity
        self._records: OrderedDict[int, ConnectionRecord] = OrderedDict()
        self._next_id = 1
        self._listeners: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        self._listener_queue = listener_queue
        #: Announcements a slow listener missed (its queue was full).
        self.dropped_announcements = 0

    def new_id(self) -> int:
        ident, self._next_id = self._next_id, self._next_id + 1
        return ident

    def add(self, record: ConnectionRecord) -> None:
        self._records[record.id] = record
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)
        self.announce("started", record)

    def announce(self, event: str, record: ConnectionRecord) -> None:
        summary = record.summary()
        for queue in self._listeners:
            try:
                queue.put_nowait((event, summary))
            except asyncio.QueueFull:
                self.dropped_announcements += 1

    def get(self, ident: int) -> ConnectionRecord | None:
        return self._records.get(ident)

    def summaries(self) -> list[dict[str, Any]]:
        """Newest first."""
        return [record.summary() for record in reversed(self._records.values())]

    def __len__(self) -> int:
        return len(self._records)

    def listen(self) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(self._listener_queue)
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        self._listeners.discard(queue)

    @property
    def listeners(self) -> int:
        return len(self._listeners)
