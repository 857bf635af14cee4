"""AsyncAPI 3.0 for an app's WebSocket routes: the document, and a router that serves it.

Each WebSocket rule is a channel (``/chat/<room>`` -> address ``/chat/{room}`` with a
``room`` parameter); what the route ``receives=`` is an operation with ``action: receive`` and
what it ``sends=`` one with ``action: send`` (the server's view, as AsyncAPI 3 describes an
application). Message payload schemas come from the types through ONE
``msgspec.json.schema_components`` call, so a type shared by several routes is one schema::

    app = aaf([chat_router, asyncapi_router(title="Chat", version="1.0.0")])
    # GET /asyncapi.json: the document; GET /asyncapi: a page that shows it

See docs/asyncapi.md.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from . import _json
from ._asyncapi_page import render_page
from .app import App
from .connection import Connection
from .response import HttpResponse
from .routing import Param, Route, Router
from .routing._spec import FieldSpec

__all__ = [
    "ASYNCAPI_VERSION",
    "AsyncAPIOptions",
    "asyncapi_document",
    "asyncapi_router",
    "find_asyncapi_options",
]

ASYNCAPI_VERSION = "3.0.0"
_SCHEMAS = "#/components/schemas/{name}"
# Keys of channels, operations and components: what the AsyncAPI 3.0 JSON schema accepts.
_UNSAFE_KEY = re.compile(r"[^A-Za-z0-9_.\-]")
_PARAMETER_TEXT = {
    "str": "one path segment",
    "int": "a non-negative integer",
    "float": "a number",
    "uuid": "a UUID",
    "path": "the rest of the path (may contain '/')",
}


def asyncapi_document(
    app: App | Router | Iterable[Router],
    *,
    title: str,
    version: str,
    description: str | None = None,
    servers: Mapping[str, str | Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the WebSocket routes of ``app`` (an App or routers).

    ``servers`` maps a name to a URL (``{"prod": "wss://chat.example.com"}``: host, ``ws``/``wss``
    protocol and path are taken from it) or to a ready AsyncAPI Server Object. Routes declared
    with ``include_in_schema=False`` are left out.
    """
    routes = [r for r in _routes(app) if r.websocket and r.doc.include_in_schema]
    document: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version},
        "defaultContentType": "application/json",
    }
    if description:
        document["info"]["description"] = description
    if servers:
        document["servers"] = {_key(name): _server(url) for name, url in servers.items()}
    channels, operations, messages, schemas = _describe(routes)
    document["channels"] = channels
    document["operations"] = operations
    document["components"] = {"messages": messages, "schemas": schemas}
    return document


def _routes(app: App | Router | Iterable[Router]) -> list[Route]:
    routers = app.routers if isinstance(app, App) else [app] if isinstance(app, Router) else app
    return [route for router in routers for route in router.routes]


def _key(name: str) -> str:
    return _UNSAFE_KEY.sub("_", name) or "_"


def _server(url: str | Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(url, str):
        return dict(url)
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(
            f"server URL {url!r} must be ws://host[:port][/path] or wss://...; or give an "
            "AsyncAPI Server Object (a dict) instead"
        )
    server: dict[str, Any] = {"host": parts.netloc, "protocol": parts.scheme}
    if parts.path.strip("/"):
        server["pathname"] = "/" + parts.path.strip("/")
    return server


def request_server(conn: Connection) -> dict[str, Any]:
    """The server a request reached, as an AsyncAPI Server Object (for documents served
    without ``servers=``)."""
    url = conn.url
    protocol = "wss" if url.scheme in ("https", "wss") else "ws"
    server: dict[str, Any] = {"host": url.netloc, "protocol": protocol}
    root: str = conn.scope.get("root_path", "")
    if root.strip("/"):
        server["pathname"] = "/" + root.strip("/")
    return server


# ---------------------------------------------------------------------------- channels
def _members(declared: Any) -> list[Any]:
    """The message types of ``receives=``/``sends=``: each class of a union is its own message
    (``ChatIn | Typing`` -> two messages), anything else is one."""
    if declared is None:
        return []
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(declared) if m is not type(None)]
        if all(isinstance(m, type) for m in members):
            return members
    return [declared]


def _split_docstring(route: Route) -> tuple[str | None, str | None]:
    doc = route.doc
    text = (route.endpoint.__doc__ if route.endpoint is not None else None) or ""
    first, _, rest = inspect.cleandoc(text).partition("\n")
    summary = doc.summary or first.strip() or None
    description = doc.description or rest.strip() or None
    return summary, description


def _address(route: Route) -> str:
    return "/" + "/".join(
        f"{{{part.name}}}" if isinstance(part, Param) else part for part in route.parts
    )


def _parameters(route: Route) -> dict[str, Any]:
    return {
        part.name: {
            "description": _PARAMETER_TEXT.get(
                part.converter_name, f"a value the '{part.converter_name}' converter accepts"
            )
        }
        for part in route.parts
        if isinstance(part, Param)
    }


def _describe(
    routes: list[Route],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Channels, operations, component messages and component schemas of ``routes``."""
    # Every message type of every route, once, in order: one schema_components call.
    kinds: list[Any] = []
    for route in routes:
        for declared in (route.doc.receives, route.doc.sends):
            for member in _members(declared):
                if member not in kinds:
                    kinds.append(member)
        for field in _handshake_fields(route):
            if field.annotation not in kinds:
                kinds.append(field.annotation)
    refs, schemas = msgspec.json.schema_components(kinds, ref_template=_SCHEMAS)

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for route in routes:
        channel_id = _unique(_key(route.name), channels)
        summary, description = _split_docstring(route)
        channel: dict[str, Any] = {"address": _address(route)}
        if summary:
            channel["summary"] = summary
        if description:
            channel["description"] = description
        parameters = _parameters(route)
        if parameters:
            channel["parameters"] = parameters
        bindings = _ws_binding(route, refs, kinds)
        if bindings:
            channel["bindings"] = {"ws": bindings}
        channel_messages: dict[str, Any] = {}
        for action, declared in (("receive", route.doc.receives), ("send", route.doc.sends)):
            names = []
            for member in _members(declared):
                payload = refs[kinds.index(member)]
                name = _message_name(payload, channel_id, action, member)
                if name not in messages:
                    messages[name] = _message(name, payload, schemas, member)
                channel_messages[name] = {"$ref": f"#/components/messages/{name}"}
                names.append(name)
            if names:
                operations[f"{channel_id}.{action}"] = _operation(
                    channel_id, action, names, route.doc.tags
                )
        if channel_messages:
            channel["messages"] = channel_messages
        channels[channel_id] = channel
    return channels, operations, messages, schemas


def _handshake_fields(route: Route) -> list[FieldSpec]:
    """The typed query and header parameters of a WebSocket route: read at the handshake."""
    if route.spec is None:
        return []
    return [f for f in route.spec.fields if f.source in ("query", "header")]


def _ws_binding(
    route: Route, refs: Sequence[Mapping[str, Any]], kinds: list[Any]
) -> dict[str, Any]:
    """The WebSocket channel binding: the handshake's query and headers, as object schemas."""
    binding: dict[str, Any] = {}
    for source, key in (("query", "query"), ("header", "headers")):
        fields = [f for f in _handshake_fields(route) if f.source == source]
        if not fields:
            continue
        schema: dict[str, Any] = {
            "type": "object",
            "properties": {f.wire: refs[kinds.index(f.annotation)] for f in fields},
        }
        required = [f.wire for f in fields if f.required]
        if required:
            schema["required"] = required
        binding[key] = schema
    if binding:
        binding["method"] = "GET"
        binding["bindingVersion"] = "0.1.0"
    return binding


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    candidate, counter = key, 2
    while candidate in taken:
        candidate, counter = f"{key}_{counter}", counter + 1
    return candidate


def _message_name(payload: Mapping[str, Any], channel_id: str, action: str, member: Any) -> str:
    ref = payload.get("$ref")
    if isinstance(ref, str):
        return ref.rpartition("/")[2]
    # An inline schema (str, list[Out], ...): named after where it is used.
    return _key(f"{channel_id}.{action}.{getattr(member, '__name__', 'message')}")


def _message(
    name: str, payload: Mapping[str, Any], schemas: Mapping[str, Any], member: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {"name": name, "contentType": "application/json"}
    target = schemas.get(name) if "$ref" in payload else payload
    title = (target or {}).get("title")
    if isinstance(title, str):
        message["title"] = title
    doc = (target or {}).get("description")
    if isinstance(doc, str) and doc:
        message["summary"] = inspect.cleandoc(doc).partition("\n")[0]
    message["payload"] = dict(payload)
    return message


def _operation(channel_id: str, action: str, names: list[str], tags: Iterable[str]) -> Any:
    who = "the client sends (the server receives)" if action == "receive" else "the server sends"
    operation: dict[str, Any] = {
        "action": action,
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "summary": f"Messages {who}",
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in names],
    }
    if tags:
        operation["tags"] = [{"name": tag} for tag in tags]
    return operation


# ---------------------------------------------------------------------------- serving
#: The attribute the served document's endpoint carries its options in (read by the CLI).
_OPTIONS_ATTRIBUTE = "__aaf_asyncapi__"


@dataclass(frozen=True, slots=True)
class AsyncAPIOptions:
    """What an :func:`asyncapi_router` was given for the document (its Info Object, servers)."""

    title: str
    version: str
    description: str | None = None
    servers: Mapping[str, str | Mapping[str, Any]] | None = None


def find_asyncapi_options(app: App | Router) -> AsyncAPIOptions | None:
    """The options of the :func:`asyncapi_router` in ``app``, if it has one (``aaf asyncapi``
    writes the document the app serves)."""
    for route in _routes(app):
        options = getattr(route.endpoint, _OPTIONS_ATTRIBUTE, None)
        if isinstance(options, AsyncAPIOptions):
            return options
    return None


def asyncapi_router(
    *,
    title: str,
    version: str,
    description: str | None = None,
    servers: Mapping[str, str | Mapping[str, Any]] | None = None,
    path: str = "/asyncapi.json",
    page_path: str | None = "/asyncapi",
) -> Router:
    """A router serving the AsyncAPI document of the app it is part of (``path``) and a page
    that shows it (``page_path``; ``None`` for none).

    The document is built from ``conn.app`` on the first request and cached. Without
    ``servers=``, it names the server the request reached (ws/wss, host, mount prefix).
    """
    router = Router()
    cache: dict[int, tuple[App, dict[str, Any]]] = {}

    def document_for(conn: Connection) -> dict[str, Any]:
        app = conn.app
        if not isinstance(app, App):
            raise RuntimeError(
                "asyncapi_router() documents the app it is served by: add it to an aaf App "
                "(aaf([router, asyncapi_router(...)])), or call asyncapi_document(routers)"
            )
        cached = cache.get(id(app))
        if cached is None or cached[0] is not app:
            # PERF: built once per app (the route table is fixed once the app serves).
            built = asyncapi_document(
                app, title=title, version=version, description=description, servers=servers
            )
            cached = cache[id(app)] = (app, built)
        document = cached[1]
        if servers is None:
            # APPSEC: the Host header is the client's; it is reflected (encoded, escaped on the
            # page) only to that client and never stored in the cache.
            document = {**document, "servers": {"this": request_server(conn)}}
        return document

    @router.get(path, include_in_schema=False)
    async def asyncapi_json(conn: Connection) -> HttpResponse:
        return HttpResponse(_json.encode(document_for(conn)), 200, None, "application/json")

    setattr(
        asyncapi_json, _OPTIONS_ATTRIBUTE, AsyncAPIOptions(title, version, description, servers)
    )

    if page_path is not None:
        json_url = path

        @router.get(page_path, include_in_schema=False)
        async def asyncapi_page(conn: Connection) -> HttpResponse:
            root: str = conn.scope.get("root_path", "")
            page = render_page(document_for(conn), json_url=root + json_url)
            # APPSEC: the page loads nothing (no script, no CDN): the policy says so to the
            # browser too.
            headers = {"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"}
            return HttpResponse(page, 200, headers, "text/html; charset=utf-8")

    return router
