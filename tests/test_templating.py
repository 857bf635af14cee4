"""Templates: Jinja2 with autoescape, responses, url_for for routes and mounts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from aaf import Connection, Router, aaf
from aaf.staticfiles import StaticFiles
from aaf.templating import Templates
from aaf.testing import TestClient


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "base.html").write_text(
        "<title>{% block title %}{% endblock %}</title><main>{% block main %}{% endblock %}</main>"
    )
    (directory / "page.html").write_text(
        '{% extends "base.html" %}{% block title %}{{ title }}{% endblock %}'
        "{% block main %}{{ comment }} | {{ trusted|safe }} | {{ conn.method }}{% endblock %}"
    )
    (directory / "links.html").write_text(
        "{{ url_for('item', item_id=7) }} {{ url_for('static', path='css/app.css') }} "
        "{{ url_for('static', path='a b.png') }}"
    )
    (directory / "note.txt").write_text("{{ text }}")
    (directory / "bad_link.html").write_text("{{ url_for('nope') }}")
    (tmp_path / "static").mkdir()
    return directory


def site(templates: Templates, tmp_path: Path) -> Any:
    router = Router()

    @router.get("/page")
    async def page(conn: Connection) -> Any:
        context = {
            "title": "Hi & bye",
            "comment": "<script>alert(1)</script>",
            "trusted": "<b>ok</b>",
        }
        return templates.response(conn, "page.html", context, headers={"x-t": "1"})

    @router.get("/items/<int:item_id>", name="item")
    async def item(conn: Connection, item_id: int) -> Any:
        return templates.response(conn, "links.html")

    @router.get("/note")
    async def note(conn: Connection) -> Any:
        return templates.response(
            conn, "note.txt", {"text": "a < b"}, status_code=201, media_type="text/plain"
        )

    @router.get("/bad")
    async def bad(conn: Connection) -> Any:
        return templates.response(conn, "bad_link.html")

    @router.get("/missing")
    async def missing(conn: Connection) -> Any:
        return templates.response(conn, "missing.html")

    router.mount("/static", StaticFiles(tmp_path / "static"), name="static")
    return aaf([router])


def test_rendered_page_is_escaped_html(templates_dir: Path, tmp_path: Path) -> None:
    with TestClient(site(Templates(templates_dir), tmp_path)) as client:
        response = client.get("/page")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-t"] == "1"
    assert response.text == (
        "<title>Hi &amp; bye</title>"
        "<main>&lt;script&gt;alert(1)&lt;/script&gt; | <b>ok</b> | GET</main>"
    )


def test_autoescape_applies_to_every_extension(templates_dir: Path, tmp_path: Path) -> None:
    with TestClient(site(Templates(templates_dir), tmp_path)) as client:
        response = client.get("/note")
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "a &lt; b"


def test_url_for_routes_and_mounts(templates_dir: Path, tmp_path: Path) -> None:
    with TestClient(site(Templates(templates_dir), tmp_path)) as client:
        assert client.get("/items/1").text == "/items/7 /static/css/app.css /static/a%20b.png"


def test_url_for_includes_the_prefix_the_app_is_mounted_under(
    templates_dir: Path, tmp_path: Path
) -> None:
    outer = Router()
    outer.mount("/app", site(Templates(templates_dir), tmp_path))
    with TestClient(aaf([outer])) as client:
        response = client.get("/app/items/1")
    assert response.text == "/app/items/7 /app/static/css/app.css /app/static/a%20b.png"


def test_unknown_names_and_missing_templates_are_errors(
    templates_dir: Path, tmp_path: Path
) -> None:
    with TestClient(site(Templates(templates_dir), tmp_path)) as client:
        assert client.get("/bad").status_code == 500
        assert client.get("/missing").status_code == 500


def test_render_without_a_connection(templates_dir: Path) -> None:
    templates = Templates(templates_dir)
    assert templates.render("note.txt", {"text": "<x>"}) == "&lt;x&gt;"
    assert templates.render("note.txt", text="&") == "&amp;"
    with pytest.raises(RuntimeError, match=r"templates.response\(conn, ...\)"):
        templates.render("links.html")


def test_url_for_needs_an_app(templates_dir: Path) -> None:
    from aaf.templating import url_for
    from tests.conftest import http_scope

    conn = Connection(http_scope(), _never, _never_send)
    with pytest.raises(RuntimeError, match="url_for needs an app that knows the routes"):
        url_for(conn, "item")


def test_unknown_route_without_matching_mount(templates_dir: Path, tmp_path: Path) -> None:
    from aaf.routing import RouteError
    from aaf.templating import url_for
    from tests.conftest import http_scope

    app = site(Templates(templates_dir), tmp_path)
    conn = Connection(http_scope(), _never, _never_send, app)
    with pytest.raises(RouteError, match="no route is named 'static'"):
        url_for(conn, "static", path="x", other=1)


def test_several_directories_and_options(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (second / "only.txt").write_text("  {{ 1 + 1 }}\n")
    templates = Templates([first, second], trim_blocks=True)
    assert templates.render("only.txt") == "  2"
    assert templates.env.auto_reload is False
    assert Templates(first, auto_reload=True).env.auto_reload is True


def test_a_ready_environment(tmp_path: Path) -> None:
    env = jinja2.Environment(loader=jinja2.DictLoader({"a.html": "{{ x }}"}), autoescape=True)
    templates = Templates(env=env)
    assert templates.render("a.html", x="<") == "&lt;"
    assert "url_for" in env.globals
    with pytest.raises(ValueError, match="not both"):
        Templates(tmp_path, env=env)
    with pytest.raises(ValueError, match="needs a directory"):
        Templates()


def test_a_ready_environment_without_autoescape_is_refused() -> None:
    # APPSEC: Jinja2's own default is autoescape=False; rendering unescaped HTML silently
    # would contradict "autoescaping is on".
    loader = jinja2.DictLoader({"a.html": "{{ x }}"})
    unescaped = (
        jinja2.Environment(loader=loader),  # noqa: S701 - the unsafe default, on purpose
        jinja2.Environment(autoescape=False),  # noqa: S701 - refused, which is the point
    )
    for plain in unescaped:
        with pytest.raises(ValueError, match=r"autoescape=True.*select_autoescape\(\)"):
            Templates(env=plain)
    by_extension = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape())
    assert Templates(env=by_extension).render("a.html", x="<b>") == "&lt;b&gt;"


def test_missing_jinja2_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jinja2", None)
    with pytest.raises(ImportError, match=r"pip install jinja2"):
        Templates("templates")


async def _never() -> dict[str, Any]:
    raise AssertionError("not called")


async def _never_send(message: Any) -> None:
    raise AssertionError("not called")
