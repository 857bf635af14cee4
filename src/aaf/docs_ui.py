"""API docs pages (Swagger UI, ReDoc, Scalar) for an OpenAPI document, as an ordinary router.

    app = aaf([api, openapi_router(title="Tasks"), docs_router(ui=("swagger", "redoc"))])

serves ``/docs`` (the first UI), ``/docs/swagger``, ``/docs/redoc`` and their assets under
``/docs/assets/``. The router can be included at any prefix and is listed by ``aaf routes``.
Assets come from an installed package when there is one (``pip install 'aaf[docs-ui]'``: no
network needed, see :mod:`aaf._docs_ui_assets`), otherwise from pinned CDN URLs carrying
``integrity`` hashes, so a tampered CDN file is refused by the browser.

APPSEC: the pages run no inline script (the settings travel in a JSON data block read by a
served script), so they work under a ``script-src 'self'`` Content Security Policy when the
assets are local.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._docs_ui_assets import UI_ASSETS, Asset, UIName
from .connection import Connection
from .errors import HTTPError
from .files import FileResponse
from .response import HtmlResponse, HttpResponse
from .routing import RouteError, Router

__all__ = ["docs_router"]

_UI_TITLES: dict[UIName, str] = {"swagger": "Swagger UI", "redoc": "ReDoc", "scalar": "Scalar"}

# What starts each UI, given {"openapiUrl": ...} from the page's data block.
_STARTERS: dict[UIName, str] = {
    # validatorUrl: null - Swagger UI would otherwise send the document to an online validator.
    "swagger": (
        'window.ui = SwaggerUIBundle({url: config.openapiUrl, dom_id: "#docs-ui", '
        "deepLinking: true, validatorUrl: null});"
    ),
    "redoc": 'Redoc.init(config.openapiUrl, {}, document.getElementById("docs-ui"));',
    # withDefaultFonts: false - the default fonts are fetched from Scalar's servers.
    "scalar": (
        'Scalar.createApiReference("#docs-ui", {url: config.openapiUrl, withDefaultFonts: false});'
    ),
}

_INIT_TEMPLATE = """(function () {
  var config = JSON.parse(document.getElementById("aaf-docs-config").textContent);
  %s
})();
"""

_ASSET_CACHE = "public, max-age=3600"

# The links between the UIs (a file, not a style attribute: CSP-friendly like the scripts).
_NAV_CSS = (
    "nav.aaf-docs{font:14px/1.5 system-ui,sans-serif;padding:8px 20px;"
    "border-bottom:1px solid #d8dde3;background:#f7f8fa}"
    "nav.aaf-docs a{margin-right:16px;color:#1d4ed8;text-decoration:none}"
    "nav.aaf-docs a[aria-current]{font-weight:600;color:#111}\n"
)


def docs_router(
    openapi_url: str = "/openapi.json",
    *,
    ui: UIName | Sequence[UIName] = ("swagger",),
    prefix: str = "/docs",
    title: str = "API documentation",
    offline: bool = True,
) -> Router:
    """A router with a docs page for each of ``ui`` (the first also at ``prefix`` itself).

    ``openapi_url`` starting with ``/`` is a path of this app (the mount point is added);
    anything else is used as it is. ``offline=False`` always loads the assets from the CDN.
    """
    names: tuple[UIName, ...] = (ui,) if isinstance(ui, str) else tuple(ui)
    unknown = [name for name in names if name not in UI_ASSETS]
    if not names or unknown:
        raise RouteError(f"docs_router ui must be one or more of {sorted(UI_ASSETS)}, not {ui!r}")
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise RouteError(f"docs_router prefix must look like '/docs' (or be ''), not {prefix!r}")
    local = _local_assets(names) if offline else {}
    router = Router()
    for position, name in enumerate(dict.fromkeys(names)):
        rules = {f"{prefix}/{name}": f"docs.{name}"}
        if position == 0:
            rules[prefix or "/"] = "docs.index"
        for rule, route_name in rules.items():
            page = _page_handler(rule, name, names, openapi_url, prefix, title, local)
            router.add_route(rule, page, name=route_name, include_in_schema=False)
    router.add_route(
        f"{prefix}/assets/<name>",
        _asset_handler(local),
        name="docs.asset",
        include_in_schema=False,
    )
    return router


def _local_assets(names: Sequence[UIName]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name in names:
        for asset in UI_ASSETS[name]:
            found = asset.local_file()
            if found is not None:
                files[asset.name] = found
    return files


def _page_handler(
    own_rule: str,
    ui: UIName,
    names: Sequence[UIName],
    openapi_url: str,
    prefix: str,
    title: str,
    local: dict[str, Path],
) -> Any:
    async def docs_page(conn: Connection) -> HtmlResponse:
        root_path = str(conn.scope.get("root_path", ""))
        # Where this router was included: the matched rule minus the rule registered here.
        full = conn.route.rule if conn.route is not None else own_rule
        outer = full[: len(full) - len(own_rule)] if full.endswith(own_rule) else ""
        url = root_path + openapi_url if openapi_url.startswith("/") else openapi_url
        return HtmlResponse(_render(ui, names, url, root_path + outer + prefix, title, local))

    docs_page.__name__ = f"docs_{ui}"
    docs_page.__qualname__ = f"docs_router.<locals>.docs_{ui}"
    return docs_page


def _render(
    ui: UIName,
    names: Sequence[UIName],
    openapi_url: str,
    base: str,
    title: str,
    local: dict[str, Path],
) -> str:
    tags = [_asset_tag(asset, base, local) for asset in UI_ASSETS[ui]]
    styles = "".join(t for t in tags if t.startswith("<link"))
    scripts = "".join(t for t in tags if t.startswith("<script"))
    # APPSEC: "<" escaped so no value can close the data block early.
    config = json.dumps({"openapiUrl": openapi_url}).replace("<", "\\u003c")
    nav = ""
    if len(names) > 1:
        links = "".join(
            f'<a href="{html.escape(base)}/{n}"{" aria-current=page" if n == ui else ""}>'
            f"{_UI_TITLES[n]}</a>"
            for n in dict.fromkeys(names)
        )
        styles += f'<link rel="stylesheet" href="{html.escape(base)}/assets/aaf-docs.css">\n'
        nav = f'<nav class="aaf-docs">{links}</nav>\n'
    page_title = f"{html.escape(title)} - {_UI_TITLES[ui]}"
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{page_title}</title>\n{styles}</head>\n<body>\n{nav}"
        '<div id="docs-ui"></div>\n'
        f'<script id="aaf-docs-config" type="application/json">{config}</script>\n'
        f"{scripts}"
        f'<script src="{html.escape(base)}/assets/{ui}-init.js"></script>\n'
        "</body></html>\n"
    )


def _asset_tag(asset: Asset, base: str, local: dict[str, Path]) -> str:
    if asset.name in local:
        src, extra = f"{base}/assets/{asset.name}", ""
    else:
        src = asset.cdn_url
        extra = f' integrity="{asset.integrity}" crossorigin="anonymous"'
    src = html.escape(src)
    if asset.kind == "style":
        return f'<link rel="stylesheet" href="{src}"{extra}>\n'
    return f'<script src="{src}"{extra}></script>\n'


def _asset_handler(local: dict[str, Path]) -> Any:
    init_scripts = {
        f"{ui}-init.js": (_INIT_TEMPLATE % starter) for ui, starter in _STARTERS.items()
    }

    async def docs_asset(conn: Connection, name: str) -> HttpResponse | FileResponse:
        # APPSEC: only the names listed here are served; nothing is looked up from the path.
        headers = {"cache-control": _ASSET_CACHE}
        if name == "aaf-docs.css":
            return HttpResponse(_NAV_CSS.encode(), headers=headers, media_type="text/css")
        if name in init_scripts:
            return HttpResponse(
                init_scripts[name].encode(), headers=headers, media_type="text/javascript"
            )
        path = local.get(name)
        if path is None:
            raise HTTPError(404, f"no docs asset {name!r}")
        return FileResponse(path, headers=headers)

    return docs_asset
