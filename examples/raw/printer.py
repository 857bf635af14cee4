"""Print every scope and event the server hands over.  ``aaf run examples.raw.printer:app``

Handy to see what a server (or a proxy in front of it, or a framework mounting the app) really
sends. HTTP requests are answered with the same information as JSON; the lifespan protocol is
followed (startup, then shutdown) and printed too.
"""

from __future__ import annotations

import json
from typing import Any

from .asgi_types import Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024


def jsonable(value: Any) -> Any:
    """``value`` with bytes as latin-1 text (what HTTP headers are), tuples as lists, and
    anything else JSON has no type for as its repr."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


def describe(message: Message) -> dict[str, Any]:
    """A message as printed: body bytes are counted, not copied."""
    shown = {key: jsonable(value) for key, value in message.items() if key != "body"}
    if "body" in message:
        shown["body_bytes"] = len(message["body"])
    return shown


def show(kind: str, value: Any) -> None:
    print(f"{kind}: {json.dumps(value)}", flush=True)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        show("event", describe(message))
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    events: list[dict[str, Any]] = []
    received = 0
    more_body = True
    while more_body:
        message = await receive()
        events.append(describe(message))
        show("event", events[-1])
        if message["type"] == "http.disconnect":
            return
        received += len(message.get("body", b""))
        more_body = message.get("more_body", False)
        if received > MAX_BODY:  # APPSEC: what arrived, not what Content-Length claims
            break
    status = 413 if received > MAX_BODY else 200
    body = json.dumps({"scope": jsonable(dict(scope)), "events": events}, indent=2).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    show("scope", jsonable(dict(scope)))
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http":
        await http(scope, receive, send)
    else:
        raise RuntimeError(f"the printer answers http and lifespan, not {scope['type']!r}")
