"""Rate limiting: parsing, GCRA arithmetic, the memory backend, the middleware, @rate_limit."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aaf import Middleware, Router, aaf
from aaf.datastructures import AuthUser
from aaf.middleware.proxy import ProxyHeadersMiddleware
from aaf.middleware.ratelimit import (
    RateLimitMiddleware,
    by_user_or_address,
    client_address,
)
from aaf.ratelimit_backends import (
    Decision,
    MemoryBackend,
    RateLimit,
    parse_rate,
)
from aaf.testing import TestClient, WebSocketDenied
from aaf.websocket import WebSocketDisconnect
from tests.support.ratelimit_fakes import BrokenBackend, Clock

# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    ("text", "limit", "period"),
    [
        ("100/minute", 100, 60),
        ("5/second", 5, 1),
        ("10/hour", 10, 3600),
        ("1000/day", 1000, 86400),
        ("5/10 seconds", 5, 10),
        ("3 per 2 minutes", 3, 120),
        (" 7 / min ", 7, 60),
        ("20/Minutes", 20, 60),
        ("2/1.5 s", 2, 1.5),
    ],
)
def test_parse_rate(text: str, limit: int, period: float) -> None:
    assert parse_rate(text) == RateLimit(limit, period)


@pytest.mark.parametrize("text", ["", "100", "100/fortnight", "x/minute", "-1/minute", "1/0 s"])
def test_parse_errors_say_the_fix(text: str) -> None:
    with pytest.raises(ValueError, match=r"'100/minute'|must be"):
        parse_rate(text)


def test_rate_limit_object_is_checked_and_passes_through() -> None:
    rate = RateLimit(3, 30)
    assert parse_rate(rate) is rate
    assert rate.interval == 10
    with pytest.raises(ValueError, match="whole number >= 1"):
        RateLimit(0, 60)
    with pytest.raises(ValueError, match="period_seconds must be > 0"):
        RateLimit(1, 0)
    with pytest.raises(TypeError, match="'100/minute'"):
        parse_rate(100)  # type: ignore[arg-type]


# ------------------------------------------------------------------ GCRA and the memory backend


def test_gcra_allows_a_burst_of_limit_then_one_per_interval() -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    rate = RateLimit(100, 60)  # one request every 0.6 s, bursts of 100

    def hit() -> Decision:
        return Decision.from_hit(rate, *backend.hit_now("k", rate.interval, rate.period_seconds))

    first = hit()
    assert (first.allowed, first.remaining) == (True, 99)
    assert first.reset_after == pytest.approx(0.6)
    for expected in range(98, -1, -1):
        assert hit().remaining == expected
    refused = hit()
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == pytest.approx(0.6)
    assert refused.reset_after == pytest.approx(60)
    clock.now += 0.5
    assert not hit().allowed  # still 0.1 s short
    clock.now += 0.1
    assert hit().allowed  # one interval later, exactly one more
    assert not hit().allowed
    clock.now += 6  # ten intervals: ten more
    assert [hit().allowed for _ in range(11)] == [True] * 10 + [False]
    clock.now += 60
    again = hit()
    assert (again.allowed, again.remaining) == (True, 99)  # the whole budget is back


def test_keys_are_independent() -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    assert backend.hit_now("a", 60, 60)[0]
    assert not backend.hit_now("a", 60, 60)[0]
    assert backend.hit_now("b", 60, 60)[0]


def test_refused_requests_do_not_consume_budget() -> None:
    clock = Clock()
    backend = MemoryBackend(clock=clock)
    assert backend.hit_now("k", 10, 10)[0]
    for _ in range(50):
        assert not backend.hit_now("k", 10, 10)[0]
    clock.now += 10
    assert backend.hit_now("k", 10, 10)[0]


def test_memory_stays_bounded_with_a_million_keys() -> None:
    clock = Clock()
    backend = MemoryBackend(max_keys=2_000_000, clock=clock)
    hit = backend.hit_now
    for number in range(1_000_000):
        hit(str(number), 6.0, 60.0)
    assert len(backend) == 1_000_000
    clock.now += 61  # one period: the keys expire, and are gone after the next sweep...
    hit("late", 6.0, 60.0)
    assert len(backend) == 1_000_001  # (moved to the old generation, not walked)
    clock.now += 61
    hit("later", 6.0, 60.0)
    assert len(backend) == 2  # ...which drops them in O(1)
    clock.now += 1000
    hit("last", 6.0, 60.0)
    assert len(backend) == 1


def test_a_key_still_limited_survives_the_sweep() -> None:
    clock = Clock(0)
    backend = MemoryBackend(clock=clock)
    assert backend.hit_now("first", 60, 60)[0]  # 1 per 60 s: generations of 60 s
    clock.now = 59.9
    assert backend.hit_now("busy", 60, 60)[0]  # busy until 119.9
    clock.now = 60
    backend.hit_now("other", 60, 60)  # rotation: "busy" is in the old generation now
    assert "busy" in backend.previous
    clock.now = 61
    assert not backend.hit_now("busy", 60, 60)[0]  # found there, still limited
    clock.now = 119.8
    assert not backend.hit_now("busy", 60, 60)[0]
    clock.now = 119.9
    assert backend.hit_now("busy", 60, 60)[0]


def test_a_full_memory_backend_drops_its_idlest_keys_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    backend = MemoryBackend(max_keys=4, clock=clock)
    for key in "abcd":
        backend.hit_now(key, 10, 10)
    with caplog.at_level(logging.WARNING, "aaf.ratelimit"):
        backend.hit_now("e", 10, 10)
    assert len(backend) <= 4
    assert "full" in caplog.text
    for number in range(100):
        backend.hit_now(f"k{number}", 10, 10)
        assert len(backend) <= 4


def test_memory_backend_needs_room() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        MemoryBackend(max_keys=1)


# ------------------------------------------------------------------ keys


def test_client_address_key() -> None:
    assert client_address({"client": ("203.0.113.7", 5000)}) == "203.0.113.7"
    assert client_address({"client": None}) == "unknown"
    assert client_address({}) == "unknown"
    # One /64 is one client: its addresses share a budget.
    one = client_address({"client": ("2001:db8:1:2::1", 1)})
    other = client_address({"client": ("2001:db8:1:2:ffff::9", 1)})
    assert one == other == "2001:db8:1:2::/64"
    assert client_address({"client": ("2001:db8:1:3::1", 1)}) != one


def test_by_user_or_address() -> None:
    user = AuthUser("alice", frozenset(), {})
    assert by_user_or_address({"user": user, "client": ("1.2.3.4", 1)}) == "user:alice"
    assert by_user_or_address({"user": None, "client": ("1.2.3.4", 1)}) == "addr:1.2.3.4"


# ------------------------------------------------------------------ the middleware (HTTP)


def limited_app(**options: Any) -> Any:
    router = Router()

    @router.get("/hello")
    async def hello(conn: Any) -> str:
        return "hello"

    @router.get("/health")
    async def health(conn: Any) -> str:
        return "ok"

    @router.get("/healthz")
    async def healthz(conn: Any) -> str:
        return "ok"

    @router.websocket("/ws")
    async def ws(conn: Any) -> None:
        await conn.accept()
        while True:
            text = await conn.receive_text()
            await conn.send_text(text)

    options.setdefault("limit", "3/minute")
    return aaf([router], middleware=[Middleware(RateLimitMiddleware, **options)])


def test_429_with_retry_after_and_ratelimit_headers() -> None:
    clock = Clock()
    client = TestClient(limited_app(backend=MemoryBackend(clock=clock)))
    answers = [client.get("/hello") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert [a.headers["ratelimit"] for a in answers] == [
        '"default";r=2;t=20',
        '"default";r=1;t=40',
        '"default";r=0;t=60',
    ]
    assert "retry-after" not in answers[0].headers
    refused = client.get("/hello")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["ratelimit"] == '"default";r=0;t=60'
    assert refused.headers["ratelimit-policy"] == '"default";q=3;w=60'
    assert "Retry-After" in refused.text
    assert refused.headers["content-type"].startswith("text/plain")
    clock.now += 20
    assert client.get("/hello").status_code == 200


def test_exempt_paths_are_whole_segments() -> None:
    client = TestClient(limited_app(limit="1/minute", exempt=["/health"]))
    assert client.get("/hello").status_code == 200
    assert client.get("/hello").status_code == 429
    for _ in range(5):
        answer = client.get("/health")
        assert answer.status_code == 200
        assert "ratelimit" not in answer.headers
    assert client.get("/healthz").status_code == 429  # not under /health


def test_exempt_must_be_a_list_of_paths() -> None:
    with pytest.raises(TypeError, match=r"\['/health'\]"):
        RateLimitMiddleware(limited_app(), exempt="/health")
    with pytest.raises(ValueError, match="start with '/'"):
        RateLimitMiddleware(limited_app(), exempt=["health"])


def test_headers_can_be_left_off_allowed_responses() -> None:
    client = TestClient(limited_app(limit="1/minute", headers=False))
    assert "ratelimit" not in client.get("/hello").headers
    assert client.get("/hello").headers["ratelimit"] == '"default";r=0;t=60'


def test_each_client_address_has_its_own_budget() -> None:
    app = limited_app(limit="1/minute")
    one = TestClient(app, client=("198.51.100.1", 1000))
    two = TestClient(app, client=("198.51.100.2", 1000))
    assert one.get("/hello").status_code == 200
    assert one.get("/hello").status_code == 429
    assert two.get("/hello").status_code == 200


def test_a_key_function_picks_the_budget() -> None:
    def api_key(scope: Any) -> str | None:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                return str(value.decode())
        return None  # no key: not limited

    client = TestClient(limited_app(limit="1/minute", key=api_key))
    assert client.get("/hello", headers={"x-api-key": "a"}).status_code == 200
    assert client.get("/hello", headers={"x-api-key": "a"}).status_code == 429
    assert client.get("/hello", headers={"x-api-key": "b"}).status_code == 200
    unlimited = [client.get("/hello").status_code for _ in range(3)]
    assert unlimited == [200, 200, 200]


def test_behind_proxy_headers_the_forwarded_client_is_the_key() -> None:
    router = Router()

    @router.get("/hello")
    async def hello(conn: Any) -> str:
        return "hello"

    app = aaf(
        [router],
        middleware=[
            Middleware(ProxyHeadersMiddleware, trusted_proxies=["10.0.0.1"]),
            Middleware(RateLimitMiddleware, limit="1/minute"),
        ],
    )
    proxy = TestClient(app, client=("10.0.0.1", 1000))
    assert proxy.get("/hello", headers={"x-forwarded-for": "203.0.113.1"}).status_code == 200
    assert proxy.get("/hello", headers={"x-forwarded-for": "203.0.113.1"}).status_code == 429
    assert proxy.get("/hello", headers={"x-forwarded-for": "203.0.113.2"}).status_code == 200
    # APPSEC: a client that is not the trusted proxy cannot pick a budget with the header.
    direct = TestClient(app, client=("198.51.100.9", 1000))
    assert direct.get("/hello", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 200
    assert direct.get("/hello", headers={"x-forwarded-for": "2.2.2.2"}).status_code == 429


def test_a_raw_x_forwarded_for_is_ignored_without_proxy_headers() -> None:
    client = TestClient(limited_app(limit="1/minute"))
    assert client.get("/hello", headers={"x-forwarded-for": "1.1.1.1"}).status_code == 200
    assert client.get("/hello", headers={"x-forwarded-for": "2.2.2.2"}).status_code == 429


def test_a_failing_backend_fails_open_by_default(caplog: pytest.LogCaptureFixture) -> None:
    backend = BrokenBackend()
    client = TestClient(limited_app(limit="1/minute", backend=backend))
    with caplog.at_level(logging.WARNING, "aaf.ratelimit"):
        answers = [client.get("/hello") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert "ratelimit" not in answers[0].headers
    assert backend.calls == 3
    warnings = [r for r in caplog.records if "Redis is down" in r.getMessage()]
    assert len(warnings) == 1  # one warning, not one per request
    assert "letting requests through" in warnings[0].getMessage()


def test_a_failing_backend_can_fail_closed() -> None:
    client = TestClient(
        limited_app(limit="1/minute", backend=BrokenBackend(), on_backend_error="deny")
    )
    answer = client.get("/hello")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/ws"):
        pass
    assert denied.value.status_code == 503


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="'allow'"):
        RateLimitMiddleware(limited_app(), on_backend_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="printable ASCII"):
        RateLimitMiddleware(limited_app(), name='a"b')
    with pytest.raises(ValueError, match="'100/minute'"):
        RateLimitMiddleware(limited_app(), limit="100 a minute")


# ------------------------------------------------------------------ the middleware (WebSocket)


def test_websocket_connects_are_limited_with_a_429_denial() -> None:
    client = TestClient(limited_app(limit="1/minute"))
    with client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "hi"
    with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/ws"):
        pass
    assert denied.value.status_code == 429
    assert denied.value.headers["retry-after"] == "60"
    assert denied.value.headers["ratelimit-policy"] == '"default";q=1;w=60'


async def test_without_the_denial_extension_a_websocket_is_closed_1008() -> None:
    middleware = RateLimitMiddleware(limited_app(), limit="1/minute")
    scope = {"type": "websocket", "path": "/ws", "client": ("1.2.3.4", 1), "headers": []}
    middleware.limiter.backend = MemoryBackend()
    await middleware.limiter.check(scope)  # uses the only request of the minute
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "rate limit exceeded"}]


def test_websocket_messages_are_limited_per_connection() -> None:
    clock = Clock()
    client = TestClient(limited_app(limit="10/minute", message_limit="3/second", clock=clock))
    with client.websocket_connect("/ws") as ws:
        for text in "abc":
            ws.send_text(text)
            assert ws.receive_text() == text
        clock.now += 1 / 3  # one more message's worth
        ws.send_text("d")
        assert ws.receive_text() == "d"
        ws.send_text("too fast")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008
        assert "message rate limit" in closed.value.reason
    # Another connection has a budget of its own.
    with client.websocket_connect("/ws") as ws:
        ws.send_text("fresh")
        assert ws.receive_text() == "fresh"
