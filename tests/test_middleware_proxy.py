"""ProxyHeadersMiddleware: X-Forwarded-* and Forwarded, believed only from trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest

from aaf.middleware.proxy import ProxyHeadersMiddleware, parse_forwarded
from tests.conftest import call, http_scope


class Inner:
    def __init__(self) -> None:
        self.scope: dict[str, Any] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scope = scope


async def through(
    sent: dict[str, str],
    peer: str | None = "10.0.0.5",
    trusted: tuple[str, ...] = ("10.0.0.0/8", "127.0.0.1"),
    kind: str = "http",
    **options: Any,
) -> dict[str, Any]:
    inner = Inner()
    raw = [(b"host", b"internal:8000")] + [(k.encode(), v.encode()) for k, v in sent.items()]
    scope = http_scope("/", headers=raw, client=(peer, 5000) if peer else None)
    scope["type"] = kind
    await call(ProxyHeadersMiddleware(inner, trusted, **options), scope)
    return inner.scope


def host_of(scope: dict[str, Any]) -> str:
    value: bytes = dict(scope["headers"])[b"host"]
    return value.decode()


async def test_x_forwarded_from_a_trusted_proxy() -> None:
    scope = await through(
        {
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "shop.example",
        },
        forward_host=True,
    )
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"
    assert host_of(scope) == "shop.example"
    assert [k for k, _ in scope["headers"]].count(b"host") == 1


async def test_untrusted_peers_are_not_believed() -> None:
    scope = await through(
        {"x-forwarded-for": "1.2.3.4", "x-forwarded-proto": "https", "forwarded": "for=1.2.3.4"},
        peer="198.51.100.9",
    )
    assert scope["client"] == ("198.51.100.9", 5000)
    assert scope["scheme"] == "http"
    assert host_of(scope) == "internal:8000"
    no_peer = await through({"x-forwarded-for": "1.2.3.4"}, peer=None)
    assert no_peer["client"] is None


async def test_a_spoofed_entry_on_the_left_is_never_reached() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; our proxy appended the real address.
    scope = await through({"x-forwarded-for": "6.6.6.6, 203.0.113.7"})
    assert scope["client"] == ("203.0.113.7", 0)
    # Two proxies of ours in the chain: skipped from the right.
    scope = await through({"x-forwarded-for": "6.6.6.6, 203.0.113.7, 10.1.1.1, 10.2.2.2"})
    assert scope["client"] == ("203.0.113.7", 0)


async def test_all_trusted_hops_give_the_farthest() -> None:
    scope = await through({"x-forwarded-for": "10.9.9.9, 10.1.1.1"})
    assert scope["client"] == ("10.9.9.9", 0)


async def test_proto_and_host_follow_the_client_hop_when_lists_line_up() -> None:
    scope = await through(
        {
            "x-forwarded-for": "203.0.113.7, 10.1.1.1",
            "x-forwarded-proto": "https, http",
            "x-forwarded-host": "shop.example, internal.lb",
        },
        forward_host=True,
    )
    assert scope["scheme"] == "https"
    assert host_of(scope) == "shop.example"
    # Lists that do not line up: the nearest proxy's value.
    scope = await through(
        {"x-forwarded-for": "203.0.113.7, 10.1.1.1", "x-forwarded-proto": "https"}
    )
    assert scope["scheme"] == "https"


async def test_rfc7239_forwarded() -> None:
    scope = await through(
        {
            "forwarded": 'for=192.0.2.60;proto=https;host="shop.example:8443", '
            'for="[2001:db8:cafe::17]:4711";proto=http, for=10.0.0.1',
            "x-forwarded-for": "6.6.6.6",  # the other family: ignored
            "x-forwarded-proto": "http",
        },
        trusted=("10.0.0.0/8", "2001:db8:cafe::/48"),
        headers="forwarded",
        forward_host=True,
    )
    assert scope["client"] == ("192.0.2.60", 0)
    assert scope["scheme"] == "https"
    assert host_of(scope) == "shop.example:8443"


async def test_forwarded_ipv6_client() -> None:
    scope = await through(
        {"forwarded": 'for="[2001:db8::1]:4711";proto=https'}, headers="forwarded"
    )
    assert scope["client"] == ("2001:db8::1", 0)


async def test_obfuscated_or_unknown_client_is_none_but_the_scheme_is_taken() -> None:
    # APPSEC: keeping the proxy's (trusted) address would make every such client look like
    # the proxy to IP allow-lists and rate limits.
    scope = await through({"forwarded": "for=unknown;proto=https"}, headers="forwarded")
    assert scope["client"] is None
    assert scope["scheme"] == "https"
    scope = await through({"forwarded": 'for="_hidden", for=10.1.1.1'}, headers="forwarded")
    assert scope["client"] is None
    scope = await through({"x-forwarded-for": "unknown, 10.1.1.1"})
    assert scope["client"] is None


async def test_a_header_without_a_client_entry_keeps_the_peer() -> None:
    scope = await through({"x-forwarded-proto": "https"})
    assert scope["client"] == ("10.0.0.5", 5000)
    assert scope["scheme"] == "https"


async def test_only_the_chosen_family_is_read() -> None:
    # APPSEC: nginx sets X-Forwarded-* but passes a client's own Forwarded header through;
    # reading it would let the client choose its address, scheme and host.
    spoof = {
        "forwarded": "for=10.9.9.9;proto=https;host=evil.example",
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-proto": "http",
    }
    scope = await through(spoof, forward_host=True)
    assert scope["client"] == ("203.0.113.9", 0)
    assert scope["scheme"] == "http"
    assert host_of(scope) == "internal:8000"
    # And the other way round: a proxy that writes Forwarded, a client that adds X-Forwarded-*.
    scope = await through(
        {
            "forwarded": "for=203.0.113.9",
            "x-forwarded-for": "6.6.6.6",
            "x-forwarded-proto": "https",
        },
        headers="forwarded",
    )
    assert scope["client"] == ("203.0.113.9", 0)
    assert scope["scheme"] == "http"
    # Only the other family present: nothing to apply.
    only_forwarded = await through({"forwarded": "for=6.6.6.6;proto=https"})
    assert only_forwarded["client"] == ("10.0.0.5", 5000)
    assert only_forwarded["scheme"] == "http"


async def test_the_host_is_not_forwarded_unless_asked() -> None:
    # APPSEC: proxies rarely set X-Forwarded-Host, so by default it is the client's own value.
    scope = await through({"x-forwarded-for": "203.0.113.9", "x-forwarded-host": "evil.example"})
    assert host_of(scope) == "internal:8000"
    scope = await through({"forwarded": "for=203.0.113.9;host=evil.example"}, headers="forwarded")
    assert host_of(scope) == "internal:8000"


async def test_repeated_header_lines_are_one_list() -> None:
    # RFC 9110 5.3: repeated lines are one comma-separated list. The client's line comes
    # first, the proxy's last; the right-most untrusted entry is still found.
    inner = Inner()
    raw = [
        (b"x-forwarded-for", b"6.6.6.6, 203.0.113.9"),
        (b"x-forwarded-for", b"10.0.0.2"),
        (b"x-forwarded-proto", b"gopher, https"),
        (b"x-forwarded-proto", b"http"),
    ]
    scope = http_scope("/", headers=raw, client=("10.0.0.3", 1))
    await call(ProxyHeadersMiddleware(inner, ["10.0.0.0/8"]), scope)
    assert inner.scope["client"] == ("203.0.113.9", 0)
    # Three entries per list: the client's hop (the second) gives the scheme.
    assert inner.scope["scheme"] == "https"
    forwarded = [(b"forwarded", b"for=203.0.113.9;proto=https"), (b"forwarded", b"for=10.0.0.2")]
    scope = http_scope("/", headers=forwarded, client=("10.0.0.3", 1))
    await call(ProxyHeadersMiddleware(inner, ["10.0.0.0/8"], headers="forwarded"), scope)
    assert inner.scope["client"] == ("203.0.113.9", 0)
    assert inner.scope["scheme"] == "https"


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        # An address that does not parse is an unknown client, never the proxy.
        ({"x-forwarded-for": "not-an-ip", "x-forwarded-proto": "gopher"}, None),
        # A host that does not parse is ignored alone: the good address is still taken.
        ({"x-forwarded-for": "1.2.3.4", "x-forwarded-host": "evil.com/path"}, ("1.2.3.4", 0)),
        ({"x-forwarded-for": "1.2.3.4", "x-forwarded-host": "a b"}, ("1.2.3.4", 0)),
        ({"x-forwarded-for": "1.2.3.4", "x-forwarded-host": "shop.example:99999"}, ("1.2.3.4", 0)),
        # An unclosed IPv6 bracket is no address.
        ({"forwarded": 'for="[::1";host="x\r\ny"'}, None),
    ],
)
async def test_values_that_do_not_parse_are_ignored(
    headers: dict[str, str], client: tuple[str, int] | None
) -> None:
    family = "forwarded" if "forwarded" in headers else "x-forwarded"
    scope = await through(headers, headers=family, forward_host=True)
    assert scope["scheme"] == "http"
    assert host_of(scope) == "internal:8000"
    assert scope["client"] == client


async def test_bare_ipv6_in_x_forwarded_for_is_normalised() -> None:
    scope = await through({"x-forwarded-for": "2001:DB8:0::7"})
    assert scope["client"] == ("2001:db8::7", 0)
    scope = await through({"x-forwarded-for": "1.2.3"})
    assert scope["client"] is None


async def test_ipv4_with_port_in_x_forwarded_for() -> None:
    scope = await through({"x-forwarded-for": "203.0.113.7:51000"})
    assert scope["client"] == ("203.0.113.7", 0)


async def test_websocket_schemes() -> None:
    scope = await through({"x-forwarded-proto": "https"}, kind="websocket")
    assert scope["scheme"] == "wss"
    scope = await through({"x-forwarded-proto": "wss"})
    assert scope["scheme"] == "https"


async def test_forward_host_can_be_turned_on() -> None:
    scope = await through({"x-forwarded-host": "shop.example"})
    assert host_of(scope) == "internal:8000"
    scope = await through({"x-forwarded-host": "shop.example"}, forward_host=True)
    assert host_of(scope) == "shop.example"


async def test_trust_everyone() -> None:
    scope = await through({"x-forwarded-for": "203.0.113.7"}, peer="8.8.8.8", trusted=("*",))
    assert scope["client"] == ("203.0.113.7", 0)


async def test_single_addresses_and_no_networks() -> None:
    scope = await through({"x-forwarded-for": "203.0.113.7"}, peer="::1", trusted=("::1",))
    assert scope["client"] == ("203.0.113.7", 0)
    scope = await through({"x-forwarded-for": "203.0.113.7"}, peer="::2", trusted=("::1",))
    assert scope["client"] == ("::2", 5000)
    scope = await through({"x-forwarded-for": "1.1.1.1"}, peer="garbage", trusted=("10.0.0.0/8",))
    assert scope["client"] == ("garbage", 5000)


async def test_requests_without_forwarding_headers_are_untouched() -> None:
    inner = Inner()
    scope = http_scope("/")
    await call(ProxyHeadersMiddleware(inner), scope)
    assert inner.scope is scope
    await call(ProxyHeadersMiddleware(inner), {"type": "lifespan"})
    assert inner.scope == {"type": "lifespan"}


def test_bad_trusted_entries_are_refused() -> None:
    with pytest.raises(ValueError, match="is not an IP address or network"):
        ProxyHeadersMiddleware(Inner(), ["proxy.local"])


def test_an_unknown_header_family_is_refused() -> None:
    with pytest.raises(ValueError, match="headers='x-forwarded'.*or headers='forwarded'"):
        ProxyHeadersMiddleware(Inner(), headers="x-real-ip")  # type: ignore[arg-type]


def test_parse_forwarded() -> None:
    assert parse_forwarded('for=a;proto=https, for="b,c";by=x, for="q\\"d"') == [
        {"for": "a", "proto": "https"},
        {"for": "b,c", "by": "x"},
        {"for": 'q"d'},
    ]
    assert parse_forwarded("For=a;FOR=b;junk") == [{"for": "a"}]
