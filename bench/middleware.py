"""In-process benchmark of each middleware's overhead on a small GET.

Every line is the same "hello" app with one middleware in front of it, called with a request
that makes the middleware do its normal work (an allowed Origin for CORS, a valid token for
auth, a session cookie for sessions...). The overhead is the difference from the bare app
measured in the same run.

    python bench/middleware.py            # 7 rounds x 20000 requests
    python bench/middleware.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aaf import HttpResponse, Middleware, Router, aaf
from aaf.middleware.apikey import APIKeyMiddleware
from aaf.middleware.auth import JWTAuthMiddleware
from aaf.middleware.basic import BasicAuthMiddleware
from aaf.middleware.compression import CompressionMiddleware
from aaf.middleware.cors import CORSMiddleware
from aaf.middleware.csrf import CSRFMiddleware
from aaf.middleware.hosts import TrustedHostMiddleware
from aaf.middleware.httpsredirect import HTTPSRedirectMiddleware
from aaf.middleware.inspector import InspectorMiddleware
from aaf.middleware.passwords import hash_password, verify_password
from aaf.middleware.proxy import ProxyHeadersMiddleware
from aaf.middleware.ratelimit import RateLimitMiddleware
from aaf.middleware.requestid import RequestIdMiddleware
from aaf.middleware.sessions import SessionMiddleware
from bench.inprocess import request_scope_factory, time_requests

SECRET = "bench-secret-key-" + "x" * 32
BASE_HEADERS = [
    (b"host", b"example.com"),
    (b"user-agent", b"bench/1.0"),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate, br, zstd"),
    (b"connection", b"keep-alive"),
]
LARGE_BODY = ("All work and no play makes Jack a dull boy. " * 50).encode()  # 2.2 KB


def hello_app(middleware: list[Middleware[Any]], body: bytes = b"Hello, world!") -> Any:
    router = Router()

    async def hello(conn: Any) -> HttpResponse:
        return HttpResponse(body, media_type="text/plain")

    # POST too, for the CSRF case that checks an unsafe request.
    router.add_route("/hello", hello, "hello", ["GET", "POST"])

    return aaf([router], middleware=middleware)


def jwt_token() -> str:
    import jwt

    return jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


def csrf_token() -> bytes:
    """A token as the CSRF middleware hands it out without sessions (also its cookie)."""
    return CSRFMiddleware(hello_app([]), secret_key=SECRET).make_token(b"").encode()


API_KEYS = {f"client-{index}": f"bench-api-key-{index:02d}-" + "k" * 24 for index in range(10)}
# A real-cost hash (scrypt defaults): the cache makes the KDF run once for the whole run.
BASIC_HEADER = b"Basic " + base64.b64encode(b"ada:correct horse battery staple")


def basic_users() -> dict[str, str]:
    return {"ada": hash_password("correct horse battery staple")}


def session_cookie() -> bytes:
    middleware = SessionMiddleware(hello_app([]), secret_key=SECRET)
    payload = base64.urlsafe_b64encode(b'{"user":"bench"}').rstrip(b"=")
    return b"session=" + middleware.sign(payload, int(time.time())).encode()


Setup = tuple[str, list[Middleware[Any]], list[tuple[bytes, bytes]], dict[str, Any], bytes]


def setups() -> list[Setup]:
    """(name, middleware, extra request headers, scope changes, response body)."""
    hello = b"Hello, world!"
    token = csrf_token()
    result: list[Setup] = [
        ("none", [], [], {}, hello),
        (
            "cors (allowed origin)",
            [Middleware(CORSMiddleware, allow_origins=["https://app.example"])],
            [(b"origin", b"https://app.example")],
            {},
            hello,
        ),
        ("compression (13 B, skipped)", [Middleware(CompressionMiddleware)], [], {}, hello),
        (
            "compression (2.2 KB gzip)",
            [Middleware(CompressionMiddleware, encodings=["gzip"])],
            [],
            {},
            LARGE_BODY,
        ),
        ("compression (2.2 KB zstd)", [Middleware(CompressionMiddleware)], [], {}, LARGE_BODY),
        (
            "sessions (cookie, unchanged)",
            [Middleware(SessionMiddleware, secret_key=SECRET)],
            [(b"cookie", session_cookie())],
            {},
            hello,
        ),
        (
            "auth (valid HS256 JWT)",
            [Middleware(JWTAuthMiddleware, key=SECRET)],
            [(b"authorization", b"Bearer " + jwt_token().encode())],
            {},
            hello,
        ),
        (
            "api key (10 keys, header)",
            [Middleware(APIKeyMiddleware, keys=API_KEYS)],
            [(b"x-api-key", API_KEYS["client-9"].encode())],
            {},
            hello,
        ),
        (
            "basic auth (cached)",
            [Middleware(BasicAuthMiddleware, users=basic_users())],
            [(b"authorization", BASIC_HEADER)],
            {},
            hello,
        ),
        (
            "trusted hosts",
            [Middleware(TrustedHostMiddleware, allowed_hosts=["*.example.org", "example.com"])],
            [],
            {},
            hello,
        ),
        (
            "https redirect (https)",
            [Middleware(HTTPSRedirectMiddleware)],
            [],
            {"scheme": "https"},
            hello,
        ),
        (
            "proxy headers (trusted)",
            [Middleware(ProxyHeadersMiddleware, trusted_proxies=["127.0.0.1"])],
            [(b"x-forwarded-for", b"203.0.113.7"), (b"x-forwarded-proto", b"https")],
            {},
            hello,
        ),
        ("request id (generated)", [Middleware(RequestIdMiddleware)], [], {}, hello),
        (
            "inspector (recording)",
            [Middleware(InspectorMiddleware, force=True)],
            [],
            {"client": ("127.0.0.1", 40000)},
            hello,
        ),
        ("csrf (safe GET)", [Middleware(CSRFMiddleware, secret_key=SECRET)], [], {}, hello),
        (
            "csrf (POST with token)",
            [Middleware(CSRFMiddleware, secret_key=SECRET)],
            [
                (b"origin", b"http://example.com"),
                (b"sec-fetch-site", b"same-origin"),
                (b"cookie", b"csrftoken=" + token),
                (b"x-csrf-token", token),
            ],
            {"method": "POST"},
            hello,
        ),
        (
            # A limit no bench run reaches: every request is counted and allowed (with headers).
            "rate limit (memory)",
            [Middleware(RateLimitMiddleware, limit="1000000000/second")],
            [],
            {},
            hello,
        ),
    ]
    try:  # an optional extra: measured when prometheus_client is installed
        from prometheus_client import CollectorRegistry

        from aaf.middleware.metrics import MetricsMiddleware

        metrics = Middleware(MetricsMiddleware, registry=CollectorRegistry())
        result.append(("metrics (prometheus)", [metrics], [], {}, hello))
    except ImportError:
        pass
    try:  # built by another module; measured when present
        accesslog = importlib.import_module("aaf.middleware.accesslog")
        result.append(("access log", [Middleware(accesslog.AccessLogMiddleware)], [], {}, hello))
    except (ImportError, AttributeError):
        pass
    result.extend(tracing_setups(hello))
    return result


def tracing_setups(hello: bytes) -> list[Setup]:
    """Tracing with a no-op provider (the API alone), and with the SDK exporting nowhere."""
    from opentelemetry.trace import NoOpTracerProvider

    from aaf.middleware.tracing import TracingMiddleware

    traceparent = [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]
    result: list[Setup] = [
        (
            "tracing (otel, no-op provider)",
            [Middleware(TracingMiddleware, tracer_provider=NoOpTracerProvider())],
            traceparent,
            {},
            hello,
        )
    ]
    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:  # the SDK is a test dependency, not a runtime one
        return result
    # A recording span per request, no span processor: the cost of the spans themselves.
    result.append(
        (
            "tracing (otel SDK, no exporter)",
            [Middleware(TracingMiddleware, tracer_provider=TracerProvider())],
            traceparent,
            {},
            hello,
        )
    )
    return result


def scope_factory(
    extra_headers: list[tuple[bytes, bytes]], changes: dict[str, Any]
) -> Callable[[], dict[str, Any]]:
    return request_scope_factory(
        BASE_HEADERS + extra_headers, **{"path": "/hello", "raw_path": b"/hello", **changes}
    )


async def check(app: Any, factory: Callable[[], dict[str, Any]], name: str) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(factory(), receive, send)
    if not sent or sent[0].get("status") != 200:
        raise SystemExit(f"{name}: expected 200, got {sent[:1]!r}")


async def time_app(app: Any, factory: Callable[[], dict[str, Any]], rounds: int, n: int) -> float:
    return await time_requests(app, factory, b"", rounds, n)


async def run(rounds: int, n: int) -> None:
    print(f"\nMiddleware overhead, in-process, µs per request (median of {rounds} x {n})")
    print(f"{'middleware':<32}{'µs/request':>12}{'overhead':>12}")
    base = None
    for name, middleware, headers, changes, body in setups():
        app = hello_app(middleware, body)
        factory = scope_factory(headers, changes)
        await check(app, factory, name)
        us = await time_app(app, factory, rounds, n)
        base = us if base is None else base
        overhead = "" if us is base else f"{us - base:+8.2f} µs"
        print(f"{name:<32}{us:>12.2f}{overhead:>12}")
    print("(overhead = time - time without middleware, same run; lower is better)")
    print(f"basic auth, a cache miss: +{kdf_ms(rounds):.0f} ms (one scrypt KDF, the default cost)")


def kdf_ms(rounds: int) -> float:
    """Milliseconds one default-cost password check takes: what Basic pays per cache miss."""
    stored = basic_users()["ada"]
    samples = []
    for _ in range(min(rounds, 5)):
        start = time.perf_counter()
        verify_password("correct horse battery staple", stored)
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)[len(samples) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args()
    rounds, n = (3, 2000) if args.quick else (7, 20000)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(rounds, n))


if __name__ == "__main__":
    main()
