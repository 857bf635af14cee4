"""OpenAPI 3.1: the document of an app, built from its route table, and the router serving it.

    app = aaf([api, openapi_router(title="Tasks", version="1.0")])   # GET /openapi.json

:func:`openapi_document` reads what registration recorded on every route (the rule and its
converters, the typed handler's spec, the decorator's ``status_code=``/``responses=``/``tags=``),
makes ONE ``msgspec.json.schema_components`` call for every type, and lists the security
schemes of the auth middleware on the app. WebSocket routes and mounted apps are not HTTP
operations of this app and are left out; ``include_in_schema=False`` hides a route.
``aaf openapi module:app`` writes the same document for CI diffs and code generators.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ._openapi_operations import OperationBuilder, openapi_path
from ._openapi_schemas import SchemaSlots
from .app import App
from .connection import Connection
from .response import HttpResponse
from .routing import Route, Router

__all__ = [
    "OPENAPI_VERSION",
    "DocumentOptions",
    "encode_document",
    "find_document_options",
    "openapi_document",
    "openapi_router",
    "security_schemes",
]

OPENAPI_VERSION = "3.1.0"

#: The attribute the served document's endpoint carries its options in (read by the CLI).
_OPTIONS_ATTRIBUTE = "__aaf_openapi__"


@dataclass(frozen=True, slots=True)
class DocumentOptions:
    """What the document says about itself (the Info Object) and where it is served."""

    title: str = "aaf"
    version: str = "0.1.0"
    description: str | None = None
    summary: str | None = None


def openapi_document(
    app: App | Router,
    *,
    title: str = "aaf",
    version: str = "0.1.0",
    description: str | None = None,
    summary: str | None = None,
    servers: Sequence[str] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` (an aaf app or a single router), as plain data."""
    routers = app.routers if isinstance(app, App) else [app]
    schemes, anonymous = security_schemes(app) if isinstance(app, App) else ({}, True)
    slots = SchemaSlots()
    builder = OperationBuilder(
        slots,
        parameter_error_status=int(getattr(app, "parameter_error_status", 400)),
        scheme_names=tuple(schemes),
        problem_details=getattr(app, "problem_details", False) is True,
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in _documented_routes(routers):
        item = paths.setdefault(openapi_path(route), {})
        for method, operation in builder.operations(route).items():
            item.setdefault(method, operation)  # the first router to answer wins, as served
    info: dict[str, Any] = {"title": title, "version": version}
    if summary is not None:
        info["summary"] = summary
    if description is not None:
        info["description"] = description
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if servers:
        document["servers"] = [{"url": url} for url in servers]
    document["paths"] = paths
    components: dict[str, Any] = {}
    schemas = slots.resolve(document)
    if schemas:
        components["schemas"] = schemas
    if schemes:
        components["securitySchemes"] = schemes
        # Alternatives: any one of the schemes; {} when a request may also come anonymous.
        document["security"] = [{name: []} for name in schemes] + ([{}] if anonymous else [])
    if components:
        document["components"] = components
    return document


def _documented_routes(routers: Iterable[Router]) -> list[Route]:
    return [
        route
        for router in routers
        for route in router.routes
        if not route.websocket and route.doc.include_in_schema
    ]


def security_schemes(app: App) -> tuple[dict[str, dict[str, Any]], bool]:
    """The Security Scheme Objects of the auth middleware in ``app``'s chain, by name, and
    whether a request without credentials gets through (no scheme is ``required``)."""
    schemes: dict[str, dict[str, Any]] = {}
    anonymous = True
    for layer in _middleware_chain(app):
        scheme = getattr(layer, "security_scheme", None)
        if not isinstance(scheme, dict) or not scheme:
            continue
        base = type(layer).__name__.removesuffix("Middleware") or "auth"
        name, count = base, 1
        while name in schemes:
            count += 1
            name = f"{base}{count}"
        schemes[name] = dict(scheme)
        if getattr(layer, "required", False) is True:
            anonymous = False
    return schemes, anonymous


def _middleware_chain(app: App) -> list[object]:
    """The middleware instances around the app, outermost first (each holds the next in
    ``.app``, the convention of ASGI middleware)."""
    layers: list[object] = []
    layer: object = app._entry
    seen: set[int] = set()
    while id(layer) not in seen and len(layers) < 100:
        seen.add(id(layer))
        inner = getattr(layer, "app", None)
        if inner is None or getattr(layer, "__self__", None) is app:
            break  # the app's own entry (its _serve) ends the chain
        layers.append(layer)
        layer = inner
    return layers


def encode_document(document: dict[str, Any], *, indent: int = 0) -> bytes:
    """``document`` as JSON with sorted keys: byte-for-byte stable for diffs."""
    encoded = msgspec.json.encode(document, order="sorted")
    return msgspec.json.format(encoded, indent=indent) if indent else encoded


def find_document_options(app: App | Router) -> DocumentOptions | None:
    """The options of the :func:`openapi_router` in ``app``, if it has one."""
    routers = app.routers if isinstance(app, App) else [app]
    for router in routers:
        for route in router.routes:
            options = getattr(route.endpoint, _OPTIONS_ATTRIBUTE, None)
            if isinstance(options, DocumentOptions):
                return options
    return None


def openapi_router(
    *,
    title: str = "aaf",
    version: str = "0.1.0",
    description: str | None = None,
    summary: str | None = None,
    path: str = "/openapi.json",
) -> Router:
    """A router serving the document of the app it is part of at ``path``.

    The document is built on the first request (every route is registered by then) and kept
    for each app and mount point (``root_path`` is its server URL, so "try it out" in a docs UI
    reaches the app where it is mounted).
    """
    options = DocumentOptions(title, version, description, summary)
    cache: weakref.WeakKeyDictionary[App, dict[str, bytes]] = weakref.WeakKeyDictionary()
    router = Router()

    async def openapi_json(conn: Connection) -> HttpResponse:
        app = conn.app
        if not isinstance(app, App):
            raise RuntimeError(
                "openapi_router() documents the aaf app it is served by: put it in the app, "
                "e.g. aaf([api, openapi_router(title=...)])"
            )
        root_path: str = conn.scope.get("root_path", "")
        per_app = cache.setdefault(app, {})
        body = per_app.get(root_path)
        if body is None:
            document = openapi_document(
                app,
                title=options.title,
                version=options.version,
                description=options.description,
                summary=options.summary,
                servers=[root_path] if root_path else (),
            )
            body = per_app[root_path] = encode_document(document)
        return HttpResponse(body, media_type="application/json")

    setattr(openapi_json, _OPTIONS_ATTRIBUTE, options)
    router.add_route(path, openapi_json, name="openapi", include_in_schema=False)
    return router
