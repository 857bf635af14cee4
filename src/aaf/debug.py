"""The ``debug=True`` error page: the traceback of an unhandled exception, for developers.

Browsers (``Accept: text/html``) get an HTML page with each frame's source; other clients get
the plain-text traceback. Without ``debug=True`` the app sends only "Internal Server Error".

APPSEC: everything from the exception and the request is HTML-escaped (an exception message
often contains request data), the page forbids scripts with a Content-Security-Policy and is
never cached. Local variables are not shown: they hold passwords and tokens too often.
"""

from __future__ import annotations

import html
import linecache
import traceback

from .response import HttpResponse

__all__ = ["debug_response", "render_html", "render_text"]

_HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_CONTEXT_LINES = 3
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
    "cache-control": "no-store",
}
_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}
header{background:#b00020;color:#fff;padding:16px 24px}
h1{font-size:20px;margin:0 0 4px}
section{padding:8px 24px}
.frame{border:1px solid #ddd;border-radius:4px;margin:12px 0}
.where{background:#f4f4f4;padding:6px 10px;font-family:monospace}
pre{margin:0;padding:6px 10px;overflow-x:auto;font-size:13px}
.line{display:block}.current{background:#ffe3e3}
h2{font-size:16px}
"""


def render_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


def _frame_html(frame: traceback.FrameSummary) -> str:
    where = (
        f"{html.escape(frame.filename)}, line {frame.lineno}, in <b>{html.escape(frame.name)}</b>"
    )
    lines = []
    if frame.lineno is not None:
        first = max(frame.lineno - _CONTEXT_LINES, 1)
        for number in range(first, frame.lineno + _CONTEXT_LINES + 1):
            source = linecache.getline(frame.filename, number)
            if not source:
                continue
            css = "line current" if number == frame.lineno else "line"
            lines.append(f'<span class="{css}">{number:>5}  {html.escape(source.rstrip())}</span>')
    code = f"<pre>{''.join(lines)}</pre>" if lines else ""
    return f'<div class="frame"><div class="where">{where}</div>{code}</div>'


def render_html(exc: BaseException, method: str, path: str) -> str:
    """The debug page for ``exc`` raised while serving ``method path``."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    sections = []
    for index, error in enumerate(reversed(chain)):
        frames = "".join(_frame_html(f) for f in traceback.extract_tb(error.__traceback__))
        title = html.escape(f"{type(error).__qualname__}: {error}")
        lead = "" if index == 0 else "<p>which led to:</p>"
        sections.append(f"<section>{lead}<h2>{title}</h2>{frames}</section>")
    headline = html.escape(f"{type(exc).__qualname__}: {exc}")
    request = html.escape(f"{method} {path}")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{headline}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{headline}</h1><div>{request}</div></header>"
        f"{''.join(sections)}"
        f"<section><h2>Text traceback</h2><pre>{html.escape(render_text(exc))}</pre></section>"
        "</body></html>"
    )


def debug_response(exc: BaseException, accept: str | None, method: str, path: str) -> HttpResponse:
    """The 500 debug page for ``exc`` raised while serving ``method path``.

    HTML when ``accept`` (the request's Accept header) names ``text/html``, else the plain-text
    traceback.
    """
    if accept is not None and "text/html" in accept:
        body = render_html(exc, method, path)
        return HttpResponse(body.encode("utf-8", "replace"), 500, _HEADERS, _HTML)
    return HttpResponse(render_text(exc).encode("utf-8", "replace"), 500, _HEADERS, _TEXT)
