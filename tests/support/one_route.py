"""Apps with one route, for tests of the app's dispatch and of Connection."""

from __future__ import annotations

from typing import Any

from aaf import Router, aaf
from aaf.testing import TestClient


def single(handler: Any, rule: str = "/", methods: list[str] | None = None) -> TestClient:
    router = Router()
    router.add_route(rule, handler, methods=methods)
    return TestClient(aaf([router]))


def app_with(handler: Any, rule: str = "/", methods: list[str] | None = None, **kw: Any) -> Any:
    router = Router()
    router.add_route(rule, handler, "h", methods, **kw)
    return aaf([router])
