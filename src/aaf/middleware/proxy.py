"""Proxy headers: the client's address, scheme and host as seen by a trusted reverse proxy.

    Middleware(ProxyHeadersMiddleware, trusted_proxies=["10.0.0.0/8", "127.0.0.1"])

APPSEC: anyone can send ``X-Forwarded-For``; the headers are believed only when the connection
comes from a configured proxy. The chain is then read from the right (the hop nearest to us)
and the first address that is not itself a trusted proxy is the client: a client that writes
its own ``X-Forwarded-For: 1.2.3.4`` only adds an entry on the left that is never reached.
Repeated header lines are joined with "," first (RFC 9110 5.3), so a client's own line cannot
hide the one the proxy added.

APPSEC: one header family is read, the one the proxy writes: ``X-Forwarded-For`` /
``-Proto`` / ``-Host`` (``headers="x-forwarded"``, the default, what nginx, HAProxy and most
load balancers set) or RFC 7239 ``Forwarded`` (``headers="forwarded"``). The other family is
ignored, because a proxy passes through the headers it does not set itself: reading them would
let the client choose its own address, scheme and host. The host is taken only with
``forward_host=True``, for a proxy that sets it (nginx does not, by default).

Values that do not parse (an unknown scheme, a malformed host) are ignored. A client entry
that is not an IP address (``unknown``, an obfuscated ``_hidden`` name, garbage) makes
``scope["client"]`` None: the client is unknown, and never taken for the trusted proxy.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, TypeAlias

from .._http import is_plain_host

if TYPE_CHECKING:
    from .._types import ASGIApp, Receive, Scope, Send

__all__ = ["HeaderFamily", "ProxyHeadersMiddleware", "parse_forwarded"]

HeaderFamily: TypeAlias = Literal["x-forwarded", "forwarded"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_WS_SCHEMES = {"http": "ws", "https": "wss"}
_FAMILIES: dict[str, frozenset[bytes]] = {
    "x-forwarded": frozenset((b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")),
    "forwarded": frozenset((b"forwarded",)),
}
_MAX_HOPS = 64


def _split_quoted(value: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes (one pass; backslash escapes honoured)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _unquote(value: str) -> str:
    value = value.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """RFC 7239 ``Forwarded`` elements, nearest hop last: ``[{"for": ..., "proto": ...}, ...]``."""
    elements = []
    for element in _split_quoted(value, ","):
        pairs: dict[str, str] = {}
        for pair in _split_quoted(element, ";"):
            key, equals, raw = pair.partition("=")
            if equals:
                pairs.setdefault(key.strip(" \t").lower(), _unquote(raw))
        elements.append(pairs)
    return elements


def _node_address(node: str) -> str | None:
    """The IP address in a ``for`` node or X-Forwarded-For entry (port and brackets removed)."""
    node = node.strip(" \t")
    family = socket.AF_INET
    if node.startswith("["):
        node = node[1 : node.find("]")] if "]" in node else ""
        family = socket.AF_INET6
    elif node.count(":") == 1:
        node = node.partition(":")[0]  # IPv4 with a port
    elif ":" in node:
        family = socket.AF_INET6
    # PERF: inet_pton/inet_ntop validate and normalise in C, several times faster than
    # ipaddress.ip_address; the result is the same canonical text.
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, node))
    except (OSError, ValueError):
        return None  # "unknown", an obfuscated "_hidden" name, or garbage


class ProxyHeadersMiddleware:
    """Sets ``scope["client"]``, ``scope["scheme"]`` and the Host header from proxy headers.

    Args:
        trusted_proxies: addresses or networks (``"10.0.0.0/8"``) of the proxies in front of
            the app, or ``["*"]`` to trust every peer (only when the app is unreachable except
            through the proxy).
        headers: the header family the proxy writes: ``"x-forwarded"`` (``X-Forwarded-For``,
            ``-Proto``, ``-Host``) or ``"forwarded"`` (RFC 7239). The other one is ignored.
        forward_host: also take the host from ``X-Forwarded-Host`` / ``Forwarded: host=``;
            only when the proxy sets (or clears) that header itself.
    """

    def __init__(
        self,
        app: ASGIApp,
        trusted_proxies: Iterable[str] = ("127.0.0.1", "::1"),
        *,
        headers: HeaderFamily = "x-forwarded",
        forward_host: bool = False,
    ) -> None:
        self.app = app
        names = _FAMILIES.get(headers)
        if names is None:
            raise ValueError(
                f"ProxyHeadersMiddleware headers={headers!r}: use headers='x-forwarded' for a "
                "proxy that sets X-Forwarded-For/-Proto, or headers='forwarded' for RFC 7239"
            )
        self.names = names
        self.rfc7239 = headers == "forwarded"
        self.forward_host = forward_host
        entries = [entry.strip() for entry in trusted_proxies]
        self.trust_all = "*" in entries
        self.addresses: set[str] = set()
        self.networks: list[_Network] = []
        for entry in entries:
            if entry == "*":
                continue
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted proxy {entry!r} is not an IP address or network such as '10.0.0.0/8'"
                ) from None
            if network.num_addresses == 1:
                self.addresses.add(str(network.network_address))
            else:
                self.networks.append(network)

    def trusted(self, address: str | None) -> bool:
        if self.trust_all:
            return True
        if address is None:
            return False
        if address in self.addresses:
            return True
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            names = self.names
            found: dict[bytes, list[bytes]] = {}
            # PERF: nothing to look at (the usual direct request) costs one header scan.
            for name, value in scope["headers"]:
                if name in names:
                    found.setdefault(name, []).append(value)
            if found:
                client = scope.get("client")
                if self.trusted(client[0] if client else None):
                    # Repeated lines are one list (RFC 9110 5.3): the proxy's line is the last.
                    joined = {name: b",".join(lines) for name, lines in found.items()}
                    scope = self.apply(scope, joined)
        await self.app(scope, receive, send)

    def apply(self, scope: Scope, found: dict[bytes, bytes]) -> Scope:
        if self.rfc7239:
            hops = parse_forwarded(found[b"forwarded"].decode("latin-1"))[-_MAX_HOPS:]
            fors = [hop.get("for", "") for hop in hops]
            protos = [hop.get("proto", "") for hop in hops]
            hosts = [hop.get("host", "") for hop in hops]
        else:
            fors = _list(found.get(b"x-forwarded-for"))
            protos = _list(found.get(b"x-forwarded-proto"))
            hosts = _list(found.get(b"x-forwarded-host"))
        index, client = self.client_hop(fors)
        proto = _pick(protos, index, len(fors)).lower()
        host = _pick(hosts, index, len(fors)) if self.forward_host else ""
        scope = dict(scope)
        if index is not None:
            # APPSEC: an entry that is no address ("unknown", "_hidden") is an unknown client;
            # keeping the peer would give it the trusted proxy's address.
            scope["client"] = None if client is None else (client, 0)
        scheme = _SCHEMES.get(proto)
        if scheme is not None:
            scope["scheme"] = _WS_SCHEMES[scheme] if scope["type"] == "websocket" else scheme
        # The same check conn.url makes on a Host header: a plain host[:port].
        if host and is_plain_host(host):
            scope["headers"] = [
                *((k, v) for k, v in scope["headers"] if k != b"host"),
                (b"host", host.encode("latin-1")),
            ]
        return scope

    def client_hop(self, fors: list[str]) -> tuple[int | None, str | None]:
        """The hop that is the client (the nearest one that is not a trusted proxy) and its
        address (None when it is not an IP address)."""
        address = None
        for index in range(len(fors) - 1, -1, -1):
            address = _node_address(fors[index])
            if address is None or not self.trusted(address):
                return index, address
        # Every hop is a proxy of ours (or there is none): the farthest is as close as we get.
        return (0, address) if fors else (None, None)


def _list(value: bytes | None) -> list[str]:
    if value is None:
        return []
    return [item.strip(" \t") for item in value.decode("latin-1").split(",")][-_MAX_HOPS:]


def _pick(values: list[str], index: int | None, hops: int) -> str:
    """The value for the client's hop when the lists line up, else the nearest proxy's."""
    if not values:
        return ""
    if index is not None and len(values) == hops:
        return values[index]
    return values[-1]
