"""aaf.docs_ui: the docs pages as a router, assets offline from a package or from the CDN with
Subresource Integrity."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from aaf import App, Router
from aaf._docs_ui_assets import UI_ASSETS, Asset, UIName, package_dir
from aaf.cli import format_routes
from aaf.docs_ui import docs_router
from aaf.openapi import openapi_document, openapi_router
from aaf.routing import RouteError
from aaf.testing import TestClient

from .support.servers import IN_CI

ALL_UIS: tuple[UIName, ...] = ("swagger", "redoc", "scalar")


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def swagger_package() -> Path:
    """The Swagger UI files of the docs-ui extra (swagger-ui-bundle-v2)."""
    root = package_dir("swagger_ui_bundle")
    if root is None:
        if IN_CI:
            pytest.fail("swagger-ui-bundle-v2 is not installed; it is in aaf's test extra")
        pytest.skip("swagger-ui-bundle-v2 is not installed (pip install 'aaf[docs-ui]')")
    return root


def page(app: App, path: str, **client: str) -> str:
    with TestClient(app, **client) as c:  # type: ignore[arg-type]
        answer = c.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    return answer.text


def script_and_link_urls(html: str) -> list[str]:
    return re.findall(r'<(?:script src|link rel="stylesheet" href)="([^"]+)"', html)


def test_pages_for_each_ui_and_the_first_at_the_prefix() -> None:
    app = App([openapi_router(), docs_router(ui=ALL_UIS)])
    rules = {r.rule for router in app.routers for r in router.routes}
    assert {"/docs", "/docs/swagger", "/docs/redoc", "/docs/scalar"} <= rules
    assert "/docs/assets/<name>" in rules
    index = page(app, "/docs")
    assert index == page(app, "/docs/swagger")
    assert "SwaggerUIBundle" not in index  # no inline script: the starter is a served file
    assert '<script src="/docs/assets/swagger-init.js"></script>' in index
    assert '{"openapiUrl": "/openapi.json"}' in index
    for name in ALL_UIS:  # the other UIs are linked
        assert f'href="/docs/{name}"' in index
    assert 'href="/docs/swagger" aria-current=page>' in index
    with TestClient(app) as client:
        css = client.get("/docs/assets/aaf-docs.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "nav.aaf-docs" in css.text
    assert "/docs/assets/redoc-init.js" in page(app, "/docs/redoc")
    assert "/docs/assets/scalar-init.js" in page(app, "/docs/scalar")


def test_listed_by_aaf_routes_and_not_in_the_document() -> None:
    app = App([openapi_router(), docs_router(ui="redoc")])
    table = format_routes(app.routers)
    assert "/docs/redoc" in table
    assert "/docs/assets/<name>" in table
    assert openapi_document(app)["paths"] == {}


def test_offline_assets_are_served_from_the_package() -> None:
    root = swagger_package()
    app = App([openapi_router(), docs_router(ui="swagger")])
    html = page(app, "/docs")
    assert script_and_link_urls(html) == [
        "/docs/assets/swagger-ui.css",
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-init.js",
    ]
    assert "cdn." not in html
    with TestClient(app) as client:
        bundle = client.get("/docs/assets/swagger-ui-bundle.js")
        css = client.get("/docs/assets/swagger-ui.css")
        starter = client.get("/docs/assets/swagger-init.js")
    (shipped,) = root.glob("vendor/swagger-ui-5.*/swagger-ui-bundle.js")
    assert bundle.content == shipped.read_bytes()
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    assert bundle.headers["cache-control"] == "public, max-age=3600"
    assert "validatorUrl: null" in starter.text  # no call to the online validator


def test_pinned_swagger_hashes_are_those_of_the_shipped_files() -> None:
    """The CDN pins the same Swagger UI version the package ships: equal files, equal hashes."""
    root = swagger_package()
    for asset in UI_ASSETS["swagger"]:
        version = re.search(r"@([0-9.]+)/", asset.cdn_url)
        assert version is not None
        shipped = root / f"vendor/swagger-ui-{version.group(1)}" / asset.name
        if not shipped.exists():
            pytest.skip(f"the installed swagger-ui-bundle-v2 is not Swagger UI {version[1]}")
        assert sri(shipped) == asset.integrity


@pytest.mark.parametrize("ui", ALL_UIS)
def test_cdn_assets_carry_integrity(ui: str) -> None:
    app = App([openapi_router(), docs_router(ui=ui, offline=False)])  # type: ignore[arg-type]
    html = page(app, f"/docs/{ui}")
    for asset in UI_ASSETS[ui]:  # type: ignore[index]
        assert asset.cdn_url.startswith("https://")
        assert re.fullmatch(r"sha384-[A-Za-z0-9+/]{64}", asset.integrity)
        assert re.search(r"@\d+\.\d+\.\d+/", asset.cdn_url), "CDN URLs are pinned to a version"
        tag_attributes = f'="{asset.cdn_url}" integrity="{asset.integrity}" crossorigin="anonymous"'
        assert tag_attributes in html
    with TestClient(app) as client:  # nothing is served locally then
        assert client.get(f"/docs/assets/{UI_ASSETS[ui][0].name}").status_code == 404  # type: ignore[index]


def test_missing_package_falls_back_to_the_cdn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Asset, "local_file", lambda self: None)
    html = page(App([docs_router()]), "/docs")
    assert UI_ASSETS["swagger"][1].integrity in html


def test_only_listed_assets_are_served() -> None:
    app = App([docs_router()])
    with TestClient(app) as client:
        for name in ("..%2F..%2Fpyproject.toml", "nothing.js", "%2Fetc%2Fpasswd"):
            assert client.get(f"/docs/assets/{name}").status_code == 404


def test_any_prefix_include_and_mount_point() -> None:
    docs = docs_router("/spec.json", prefix="/help", ui=("redoc", "swagger"))
    outer = Router()
    outer.include(docs, "/api")
    app = App([outer, openapi_router(path="/spec.json")])
    html = page(app, "/api/help", root_path="/svc")
    # Assets under the included prefix and the mount point; the document at the app's path.
    assert '<script src="/svc/api/help/assets/redoc-init.js"></script>' in html
    assert '{"openapiUrl": "/svc/spec.json"}' in html
    assert 'href="/svc/api/help/swagger"' in html


def test_prefix_can_be_empty_and_the_document_can_be_elsewhere() -> None:
    outer = Router()
    outer.include(docs_router("https://example.test/o.json", prefix=""), "/reference")
    html = page(App([outer]), "/reference/")
    assert '{"openapiUrl": "https://example.test/o.json"}' in html
    assert '<script src="/reference/assets/swagger-init.js"></script>' in html


def test_values_cannot_break_out_of_the_page() -> None:
    html = page(App([docs_router("/x</script><script>alert(1)//", title="<b>")]), "/docs")
    assert "</script><script>alert" not in html
    assert "<title>&lt;b&gt; - Swagger UI</title>" in html


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ui": "nope"}, "one or more of"),
        ({"ui": ()}, "one or more of"),
        ({"prefix": "docs"}, "must look like '/docs'"),
        ({"prefix": "/docs/"}, "must look like '/docs'"),
    ],
)
def test_bad_options_say_the_fix(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(RouteError, match=message):
        docs_router(**kwargs)  # type: ignore[arg-type]
