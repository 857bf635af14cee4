"""Trusted hosts: refuse requests whose ``Host`` is not one of this site's names.

    Middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])

APPSEC: the Host header chooses absolute URLs, password-reset links and cache keys; a request
for a name the site does not serve is refused (400, or a WebSocket closed with 1008) before
any handler runs. ``*.example.com`` matches every subdomain at any depth, not ``example.com``.
The value must first be a plain ``host[:port]`` (the check ``conn.url`` makes): otherwise
``evil.com/.example.com`` or ``a@evil.com:.example.com`` would match ``*.example.com`` while
naming another site in every link built from the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .._http import is_plain_host
from ._common import refuse_websocket, send_text

if TYPE_CHECKING:
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedHostMiddleware", "host_name"]


def host_name(value: str) -> str:
    """The host of a Host header value: port removed, lower-cased, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):  # an IPv6 literal: [::1]:8000
        end = value.find("]")
        return value[: end + 1] if end > 0 else ""
    name, colon, port = value.rpartition(":")
    if colon and port.isdigit():
        value = name
    return value[:-1] if value.endswith(".") else value


class TrustedHostMiddleware:
    """Lets through only requests for ``allowed_hosts`` (exact names or ``*.domain``)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        hosts = [host.strip().lower() for host in allowed_hosts]
        if not hosts:
            raise ValueError("allowed_hosts is empty: list the names this site answers to")
        self.allow_any = "*" in hosts
        self.exact: frozenset[str] = frozenset()
        suffixes: list[str] = []
        exact: set[str] = set()
        for host in hosts:
            if host == "*":
                continue
            if host.startswith("*."):
                if "*" in host[2:]:
                    raise ValueError(f"host pattern {host!r} may only start with '*.'")
                suffixes.append(host[1:])  # "*.example.com" -> ".example.com"
            elif "*" in host:
                raise ValueError(f"host pattern {host!r}: wildcards go first, as '*.example.com'")
            else:
                exact.add(host.rstrip("."))
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def allowed(self, host: str) -> bool:
        """Whether a Host header value names one of the allowed hosts."""
        if not is_plain_host(host):
            return False
        name = host_name(host)
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if self.allow_any or kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        # Exactly one Host header (RFC 9112 3.2): two would let layers disagree about the site.
        if len(hosts) == 1 and self.allowed(hosts[0].decode("latin-1")):
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await refuse_websocket(receive, send, "invalid host")
        else:
            await send_text(send, 400, b"Invalid host header")
