"""How ``aaf trace`` shows an ASGI conversation: readable lines, or one JSON object per event.

Both forms share the value helpers below, so bytes and long bodies are cut and counted the same
way whichever form is printed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["DEFAULT_MAX_SHOWN", "JsonWriter", "TextWriter", "TraceEvent", "show_value"]

#: Bytes (or characters) of a body, frame or header shown before the rest is only counted.
DEFAULT_MAX_SHOWN = 200

# Where the message of a text line starts: "   12.345 ms  websocket receive  ".
_TIME_WIDTH = 9
_KIND_WIDTH = 9
_DIR_WIDTH = 8
_INDENT = " " * (_TIME_WIDTH + len(" ms  ") + _KIND_WIDTH + 1 + _DIR_WIDTH + 2)


@dataclass(frozen=True)
class TraceEvent:
    """One step of the conversation, ``t_ms`` milliseconds after the trace started.

    ``dir`` is ``scope`` (the app was called), ``receive`` / ``send`` (a message crossed),
    ``return`` / ``raise`` / ``cancel`` (the app's call ended), ``note`` (what the tracer did
    or decided) or ``end`` (the outcome; ``details`` holds its figures). ``kind`` is the scope
    type.
    """

    t_ms: float
    kind: str
    dir: str
    message: Mapping[str, Any] | None = None
    text: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- values, cut and counted
def _cut(value: Any, cap: int) -> tuple[Any, bool]:
    """``value`` (bytes or str) cut to ``cap`` items, and whether it was cut."""
    return (value[:cap], True) if cap >= 0 and len(value) > cap else (value, False)


def _length(value: bytes | str) -> str:
    unit = "byte" if isinstance(value, bytes) else "char"
    return f"{len(value)} {unit}" if len(value) == 1 else f"{len(value)} {unit}s"


def show_value(value: Any, cap: int) -> str:
    """``value`` as Python would print it, with bytes and strings longer than ``cap`` cut
    (and their length given)."""
    if isinstance(value, bytes | str):
        shown, cut = _cut(value, cap)
        return f"{shown!r}... ({_length(value)}, first {cap} shown)" if cut else repr(shown)
    if isinstance(value, Mapping):
        items = ", ".join(f"{show_value(k, cap)}: {show_value(v, cap)}" for k, v in value.items())
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + ", ".join(show_value(item, cap) for item in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(show_value(item, cap) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def json_value(value: Any, cap: int) -> Any:
    """``value`` in JSON terms: tuples become lists, unknown objects their repr, and bytes
    ``{"bytes": escaped, "length": n, "truncated": b}``. Escaped: printable ASCII as is, the
    rest as ``\\n`` or ``\\xNN`` (readable, and exact: ``text.encode("ascii")
    .decode("unicode_escape").encode("latin-1")`` gives the bytes back)."""
    if isinstance(value, bytes):
        shown, cut = _cut(value, cap)
        escaped: str = shown.decode("latin-1").encode("unicode_escape").decode("ascii")
        return {"bytes": escaped, "length": len(value), "truncated": cut}
    if isinstance(value, Mapping):
        return {str(key): json_value(item, cap) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item, cap) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def _body_text(value: Any, cap: int) -> str:
    """A body or frame: its bytes literal, always with the total length."""
    shown = show_value(value, cap)
    if isinstance(value, bytes | str) and not shown.endswith("shown)"):
        shown += f" ({_length(value)})"
    return shown


def _header_lines(headers: Any, cap: int) -> list[str]:
    if not isinstance(headers, list | tuple):
        return [show_value(headers, cap)]
    lines = []
    for pair in headers:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            lines.append(f"{show_value(pair[0], cap)}: {show_value(pair[1], cap)}")
        else:
            lines.append(show_value(pair, cap))
    return lines


# ---------------------------------------------------------------- the readable form
def _message_lines(message: Mapping[str, Any], cap: int) -> list[str]:
    """``type key=value ...`` on one line; headers one per line below it."""
    parts = [str(message.get("type", "?"))]
    for key, value in message.items():
        if key in ("type", "headers"):
            continue
        shown = (
            _body_text(value, cap) if key in ("body", "bytes", "text") else show_value(value, cap)
        )
        parts.append(f"{key}={shown}")
    lines = [" ".join(parts)]
    if "headers" in message:
        lines += ["  " + line for line in _header_lines(message["headers"], cap)]
    return lines


def _scope_lines(scope: Mapping[str, Any], cap: int) -> list[str]:
    """One key per line; headers one per line below ``headers:``."""
    first = scope.get("type", "?")
    if "method" in scope or "path" in scope:
        first = f"{scope.get('method', 'GET')} {scope.get('path', '')}"
    lines = [str(first)]
    for key, value in scope.items():
        if key == "headers":
            lines.append("headers:")
            lines += ["  " + line for line in _header_lines(value, cap)]
        else:
            lines.append(f"{key}: {show_value(value, cap)}")
    return lines


def _end_lines(event: TraceEvent) -> list[str]:
    lines = [f"-- {event.details.get('outcome', 'ended')}: {event.text}"]
    error = event.details.get("error")
    traceback_text = error.get("traceback") if isinstance(error, Mapping) else None
    if traceback_text:
        lines += str(traceback_text).rstrip("\n").splitlines()
    return lines


class TextWriter:
    """Prints each event as it happens, one line (plus indented detail lines) per event."""

    def __init__(self, out: TextIO, cap: int = DEFAULT_MAX_SHOWN) -> None:
        self.out = out
        self.cap = cap

    def lines(self, event: TraceEvent) -> list[str]:
        if event.dir == "end":
            return _end_lines(event)
        if event.dir == "scope" and event.message is not None:
            body = _scope_lines(event.message, self.cap)
        elif event.message is not None:
            body = _message_lines(event.message, self.cap)
        else:
            body = event.text.rstrip("\n").splitlines() or [""]
        head = (
            f"{event.t_ms:{_TIME_WIDTH}.3f} ms  "
            f"{event.kind:<{_KIND_WIDTH}} {event.dir:<{_DIR_WIDTH}}  {body[0]}"
        )
        return [head.rstrip()] + [_INDENT + line for line in body[1:]]

    def emit(self, event: TraceEvent) -> None:
        self.out.write("\n".join(self.lines(event)) + "\n")
        self.out.flush()  # a stream shows up as it is sent, not at the end


class JsonWriter:
    """Prints each event as one JSON object on its own line (``--json``), for tools."""

    def __init__(self, out: TextIO, cap: int = DEFAULT_MAX_SHOWN) -> None:
        self.out = out
        self.cap = cap

    def record(self, event: TraceEvent) -> dict[str, Any]:
        record: dict[str, Any] = {"t": round(event.t_ms, 3), "kind": event.kind, "dir": event.dir}
        if event.message is not None:
            record["scope" if event.dir == "scope" else "message"] = json_value(
                event.message, self.cap
            )
        if event.text:
            record["text"] = event.text
        record.update(json_value(dict(event.details), self.cap))
        return record

    def emit(self, event: TraceEvent) -> None:
        self.out.write(json.dumps(self.record(event)) + "\n")
        self.out.flush()
