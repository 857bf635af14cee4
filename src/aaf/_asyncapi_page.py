"""The HTML page that shows an AsyncAPI document: channels, operations, messages and schemas.

Rendered on the server from the document itself, in one self-contained page: no script, no
stylesheet or font from anywhere (it works offline and under a ``default-src 'none'`` policy).
Every value from the document is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from typing import Any

__all__ = ["render_page"]

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem 2rem;
color:#1f2328}
h1{margin-bottom:0}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
section.channel{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
code,pre{font:13px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto}
.action{display:inline-block;min-width:4.5rem;font-weight:600;border-radius:4px;
padding:0 .4rem;text-align:center;color:#fff}
.receive{background:#1f6feb}.send{background:#1a7f37}
"""


def _ref_name(ref: Mapping[str, Any]) -> str:
    return str(ref.get("$ref", "")).rpartition("/")[2]


def _text(value: Any) -> str:
    return escape(str(value), quote=True)


def _channel(channel_id: str, channel: Mapping[str, Any], operations: Mapping[str, Any]) -> str:
    parts = [
        f'<section class="channel" id="channel-{_text(channel_id)}">',
        f"<h3><code>{_text(channel.get('address', ''))}</code></h3>",
    ]
    if channel.get("summary"):
        parts.append(f'<p class="summary">{_text(channel["summary"])}</p>')
    if channel.get("description"):
        parts.append(f"<p>{_text(channel['description'])}</p>")
    parameters = channel.get("parameters") or {}
    if parameters:
        parts.append("<h4>Parameters</h4><ul>")
        parts += [
            f"<li><code>{_text(name)}</code>: {_text(p.get('description', ''))}</li>"
            for name, p in parameters.items()
        ]
        parts.append("</ul>")
    own = [
        (op_id, op)
        for op_id, op in operations.items()
        if _ref_name(op.get("channel", {})) == channel_id
    ]
    if own:
        parts.append('<h4>Operations</h4><ul class="operations">')
        for op_id, op in own:
            action = str(op.get("action", ""))
            names = ", ".join(
                f'<a href="#message-{_text(_ref_name(m))}">{_text(_ref_name(m))}</a>'
                for m in op.get("messages", [])
            )
            parts.append(
                f'<li class="operation" id="operation-{_text(op_id)}">'
                f'<span class="action {_text(action)}">{_text(action)}</span> '
                f"{_text(op.get('summary', ''))}: {names}</li>"
            )
        parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _message(name: str, message: Mapping[str, Any]) -> str:
    summary = message.get("summary")
    return "\n".join(
        [
            f'<section class="message" id="message-{_text(name)}">',
            f"<h3>{_text(message.get('title') or name)}</h3>",
            f"<p>{_text(summary)}</p>" if summary else "",
            f"<p>Content type <code>{_text(message.get('contentType', ''))}</code>; payload:</p>",
            f"<pre>{_text(json.dumps(message.get('payload', {}), indent=2))}</pre>",
            "</section>",
        ]
    )


def render_page(document: Mapping[str, Any], *, json_url: str) -> str:
    """The whole page for ``document``; ``json_url`` is where the document itself is served."""
    info = document.get("info", {})
    components = document.get("components", {})
    operations = document.get("operations", {})
    servers = document.get("servers", {})
    body = [
        f"<h1>{_text(info.get('title', 'AsyncAPI'))}</h1>",
        f"<p>Version {_text(info.get('version', ''))} &middot; AsyncAPI "
        f"{_text(document.get('asyncapi', ''))} &middot; "
        f'<a href="{_text(json_url)}">the document (JSON)</a></p>',
    ]
    if info.get("description"):
        body.append(f"<p>{_text(info['description'])}</p>")
    if servers:
        body.append("<h2>Servers</h2><ul>")
        body += [
            f"<li><code>{_text(s.get('protocol', ''))}://{_text(s.get('host', ''))}"
            f"{_text(s.get('pathname', ''))}</code> ({_text(name)})</li>"
            for name, s in servers.items()
        ]
        body.append("</ul>")
    body.append("<h2>Channels</h2>")
    body += [_channel(cid, ch, operations) for cid, ch in document.get("channels", {}).items()]
    body.append("<h2>Messages</h2>")
    body += [_message(name, m) for name, m in components.get("messages", {}).items()]
    body.append("<h2>Schemas</h2>")
    body += [
        f'<section class="schema" id="schema-{_text(name)}"><h3>{_text(name)}</h3>'
        f"<pre>{_text(json.dumps(schema, indent=2))}</pre></section>"
        for name, schema in components.get("schemas", {}).items()
    ]
    title = _text(info.get("title", "AsyncAPI"))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} - AsyncAPI</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
