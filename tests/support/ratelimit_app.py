"""An app limited through Redis, for the two-server test (``AAF_TEST_REDIS``, ``AAF_TEST_RATE``)."""

from __future__ import annotations

import os
from typing import Any

from aaf import Middleware, Router, aaf
from aaf.middleware.ratelimit import RateLimitMiddleware
from aaf.ratelimit_backends import RedisBackend

router = Router()


@router.get("/hello")
async def hello(conn: Any) -> str:
    return "hello"


app = aaf(
    [router],
    middleware=[
        Middleware(
            RateLimitMiddleware,
            limit=os.environ.get("AAF_TEST_RATE", "5/hour"),
            backend=RedisBackend(os.environ["AAF_TEST_REDIS"], timeout=2.0),
            on_backend_error="deny",  # a Redis problem must show, not pass as "allowed"
        )
    ],
)
