"""Jinja2 templates: ``templates.response(conn, "page.html", {"items": items})``.

    templates = Templates("templates")

    @router.get("/")
    async def index(conn):
        return templates.response(conn, "index.html", {"title": "Home"})

Autoescaping is on for every template (``{{ value }}`` is HTML-escaped; ``|safe`` opts out). A
ready ``env=`` must have autoescaping on (``autoescape=True`` or ``select_autoescape()``); one
without it is refused.
Templates see ``conn`` and ``url_for(name, **params)``, which builds the path of a named route,
or of a named mount with ``path=`` (``url_for("static", path="app.css")``), including the mount
prefix the app is served under. Under ``CSRFMiddleware`` they also see ``csrf_token``:
``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._http import HeadersLike
from .app import App
from .middleware.csrf import SCOPE_KEY, LazyToken
from .response import HtmlResponse
from .routing import RouteError

if TYPE_CHECKING:
    import jinja2

    from .connection import Connection

__all__ = ["Templates"]


def _jinja() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # the 'templates' extra
        raise ImportError(
            "Templates needs Jinja2: pip install jinja2 (aaf's 'templates' extra)"
        ) from exc
    return jinja2


def url_for(conn: Connection, name: str, /, **params: Any) -> str:
    """The path of the route (or the mount, with ``path=``) called ``name``."""
    try:
        return conn.url_for(name, **params)
    except RouteError:
        # A RouteError means there is an app (without one, url_for raises RuntimeError).
        mounts = conn.app.mounts() if isinstance(conn.app, App) else []
        for mount in mounts:
            if mount.name == name and set(params) <= {"path"}:
                root: str = conn.scope.get("root_path", "")
                path = str(params.get("path", "")).lstrip("/")
                return root + mount.prefix + "/" + quote(path)
        raise


class Templates:
    """A Jinja2 environment loading templates from ``directory`` (or several directories).

    ``env_options`` go to ``jinja2.Environment`` (``trim_blocks=True``...). ``auto_reload``
    defaults to False: checking every template's modification time on each render is blocking
    file I/O on the event loop; pass ``auto_reload=True`` while developing.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        *,
        env: jinja2.Environment | None = None,
        **env_options: Any,
    ) -> None:
        jinja = _jinja()
        if env is None:
            if directory is None:
                raise ValueError("Templates needs a directory (or a ready jinja2 env=...)")
            env_options.setdefault("auto_reload", False)
            # APPSEC: autoescape for every template, whatever its extension.
            env_options["autoescape"] = True
            env = jinja.Environment(loader=jinja.FileSystemLoader(directory), **env_options)
        elif directory is not None or env_options:
            raise ValueError("pass either a directory (and options) or env=..., not both")
        elif not callable(env.autoescape) and not env.autoescape:
            # APPSEC: Jinja2 defaults to no escaping; a ready environment must opt in.
            raise ValueError(
                "Templates(env=...) needs an environment with autoescaping on: create it with "
                "jinja2.Environment(..., autoescape=True), or with "
                "autoescape=jinja2.select_autoescape() to escape by file extension"
            )
        env.globals["url_for"] = jinja.pass_context(_template_url_for)
        self.env: jinja2.Environment = env

    def render(self, name: str, context: Mapping[str, Any] | None = None, **extra: Any) -> str:
        """The template rendered with ``context`` (no connection: ``url_for`` unavailable)."""
        return self.env.get_template(name).render({**(context or {}), **extra})

    def response(
        self,
        conn: Connection,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: HeadersLike | None = None,
        media_type: str | None = None,
    ) -> HtmlResponse:
        """An HTML response of the rendered template; ``conn`` is in the context."""
        values = {**(context or {}), "conn": conn}
        if SCOPE_KEY in conn.scope:
            # Rendered only if the template uses {{ csrf_token }} (no token, no session else).
            values.setdefault("csrf_token", LazyToken(conn))
        body = self.env.get_template(name).render(values)
        return HtmlResponse(body, status_code, headers, media_type)


def _template_url_for(context: Any, name: str, /, **params: Any) -> str:
    conn = context.get("conn")
    if conn is None:
        raise RuntimeError(
            "url_for in a template needs the connection: render with "
            "templates.response(conn, ...) rather than templates.render(...)"
        )
    return url_for(conn, name, **params)
