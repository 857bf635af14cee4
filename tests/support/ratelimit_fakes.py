"""Fakes for the rate limit tests: a hand-moved clock, a backend that always fails."""

from __future__ import annotations

from aaf.ratelimit_backends import RateLimitBackendError


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class BrokenBackend:
    def __init__(self) -> None:
        self.calls = 0

    async def hit(self, key: str, interval: float, period: float) -> tuple[bool, float]:
        self.calls += 1
        raise RateLimitBackendError("Redis is down")
