"""Rate limits: ``"100/minute"`` parsing, the GCRA arithmetic, and where the state lives.

GCRA (the generic cell rate algorithm) keeps ONE number per key, its theoretical arrival time
(TAT): the moment the key's budget is whole again. A limit of ``L`` per ``P`` seconds lets one
request in every ``P / L`` seconds (the *interval*) with bursts of up to ``L``. A request at
``now`` is allowed when ``max(TAT, now) + interval - P <= now``, and then moves TAT on by one
interval. A key whose TAT is in the past is the same as a key never seen, so its state can be
dropped: every key expires at most ``P`` seconds after its last allowed request.

Backends hold the TATs. Each answers ``hit(key, interval, period)`` with
``(allowed, ahead)``: ``ahead`` is how far the key's TAT is ahead of now once the request is
counted (or refused), from which the remaining budget, the reset time and ``Retry-After``
follow (:class:`Decision`).

- :class:`MemoryBackend` (the default): one process, a dict with lazy expiry and a periodic,
  O(1) sweep; bounded by ``max_keys``.
- :class:`RedisBackend`: every process and machine sharing one Redis shares the limits; one
  round trip per check (a Lua script run with EVALSHA), atomic, keys expire in Redis.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

__all__ = [
    "Decision",
    "MemoryBackend",
    "RateLimit",
    "RateLimitBackend",
    "RateLimitBackendError",
    "RedisBackend",
    "parse_rate",
]

logger = logging.getLogger("aaf.ratelimit")

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"\s*(\d+)\s*(?:/|per)\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)s?\s*", re.IGNORECASE)
# Float arithmetic on intervals (0.6 * 100 == 59.99999...) must not lose a whole request.
_EPSILON = 1e-6


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``limit`` requests per ``period_seconds``, with bursts of up to ``limit``."""

    limit: int
    period_seconds: float

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"RateLimit limit must be a whole number >= 1, not {self.limit!r}")
        if not self.period_seconds > 0:
            raise ValueError(f"RateLimit period_seconds must be > 0, not {self.period_seconds!r}")

    @property
    def interval(self) -> float:
        """Seconds between two requests at the steady rate."""
        return self.period_seconds / self.limit

    def __str__(self) -> str:
        return f"{self.limit}/{self.period_seconds:g} seconds"


def parse_rate(rate: str | RateLimit) -> RateLimit:
    """``"100/minute"``, ``"5/10 seconds"``, ``"1000 per day"`` or a :class:`RateLimit`."""
    if isinstance(rate, RateLimit):
        return rate
    if not isinstance(rate, str):
        raise TypeError(f"a rate limit is a string such as '100/minute', not {rate!r}")
    match = _RATE.fullmatch(rate)
    unit = _UNITS.get(match.group(3).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"cannot read the rate limit {rate!r}: write '<count>/<unit>' such as '100/minute' "
            "or '5/10 seconds' (units: second, minute, hour, day), or RateLimit(100, 60)"
        )
    count = float(match.group(2)) if match.group(2) else 1.0
    return RateLimit(int(match.group(1)), count * unit)


class Decision(NamedTuple):
    """What one check decided, with what the response headers tell the client."""

    # PERF: a NamedTuple is built several times faster than a frozen dataclass, once per request.
    allowed: bool
    #: requests left right now (0 when refused)
    remaining: int
    #: seconds until the whole budget is back
    reset_after: float
    #: seconds until the next request can be allowed (0 when allowed)
    retry_after: float

    @classmethod
    def from_hit(cls, rate: RateLimit, allowed: bool, ahead: float) -> Decision:
        interval, period = rate.interval, rate.period_seconds
        if allowed:
            return cls(True, max(0, int((period - ahead) / interval + _EPSILON)), ahead, 0.0)
        return cls(False, 0, ahead, max(0.0, ahead + interval - period))


def gcra(tat: float, now: float, interval: float, period: float) -> tuple[bool, float]:
    """One GCRA step: ``(allowed, the new TAT)`` for a key whose TAT is ``tat``."""
    new_tat = max(tat, now) + interval
    if new_tat - period > now + _EPSILON:
        return False, tat
    return True, new_tat


class RateLimitBackendError(RuntimeError):
    """The backend could not answer in time (Redis down or slow)."""


class RateLimitBackend(Protocol):
    async def hit(self, key: str, interval: float, period: float) -> tuple[bool, float]:
        """Count one request for ``key``: ``(allowed, seconds its TAT is ahead of now)``."""
        ...


class MemoryBackend:
    """TATs in this process's memory: one dict entry per active key, bounded.

    Args:
        max_keys: the most keys held; when a new key finds it full, the older generation of
            keys (those idle longest) is dropped early and a warning logged.
        clock: seconds as a float, monotonic (injectable for tests).

    PERF: expired keys go in O(1): keys live in two generations, ``current`` and
    ``previous``. Every ``rotate`` seconds (the longest period seen) ``previous`` is dropped
    and ``current`` becomes it. A key in the dropped generation was last allowed at least one
    longest period ago, so its TAT is past: dropping it changes no decision. Memory is thus
    bounded by the keys seen in the last two periods (and by ``max_keys``), and no request
    ever walks the whole table.
    """

    def __init__(
        self, *, max_keys: int = 1_000_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 2:
            raise ValueError(f"MemoryBackend max_keys must be >= 2, not {max_keys}")
        self.max_keys = max_keys
        self.clock = clock
        self.current: dict[str, float] = {}
        self.previous: dict[str, float] = {}
        self.rotate = 0.0
        self.rotated_at = clock()
        self._warned_full = False

    def __len__(self) -> int:
        return len(self.current) + len(self.previous)

    async def hit(self, key: str, interval: float, period: float) -> tuple[bool, float]:
        return self.hit_now(key, interval, period)

    def hit_now(self, key: str, interval: float, period: float) -> tuple[bool, float]:
        """The synchronous check (no I/O): what :meth:`hit` answers."""
        now = self.clock()
        if period > self.rotate:
            self.rotate = period
        elif now - self.rotated_at >= self.rotate:
            self._sweep(now)
        current = self.current
        tat = current.get(key)
        if tat is None:
            tat = self.previous.pop(key, None)
            if tat is None:
                tat = now  # lazily expired or never seen: a fresh budget
                if len(current) + len(self.previous) >= self.max_keys:
                    self._full()
        allowed, tat = gcra(tat, now, interval, period)
        if tat > now:
            current[key] = tat
        return allowed, tat - now

    def _sweep(self, now: float) -> None:
        if now - self.rotated_at >= 2 * self.rotate:
            self.previous = {}  # both generations are past
            self.current = {}
        else:
            self.previous = self.current
            self.current = {}
        self.rotated_at = now

    def _full(self) -> None:
        if not self._warned_full:
            self._warned_full = True
            logger.warning(
                "rate limit memory backend is full (%d keys); dropping the keys idle longest "
                "(raise max_keys, or use the Redis backend)",
                self.max_keys,
            )
        # The older generation holds the keys idle longest; with none, all keys are young and
        # there is no cheap way to pick among them: start afresh (the warning says why).
        if self.previous:
            self.previous = {}
        else:
            self.current = {}


# One round trip, atomic: Redis runs the script alone. The time comes from Redis itself, so
# processes whose clocks disagree still share one timeline. Numbers go back as strings (Redis
# truncates Lua numbers to integers). Written for Redis >= 5 (effects replication of TIME).
_GCRA_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - period > now + 0.000001 then
  return {0, tostring(tat - now)}
end
local ttl = math.ceil((new_tat - now) * 1000)
redis.call('SET', KEYS[1], string.format('%.6f', new_tat), 'PX', ttl)
return {1, tostring(new_tat - now)}
"""


class RedisBackend:
    """TATs in Redis, shared by every process using the same Redis and ``prefix``.

    Args:
        url: ``redis://host:port/db`` (or ``rediss://``, ``unix://``); or pass ``client``.
        client: an existing ``redis.asyncio.Redis`` to use instead of ``url``.
        prefix: put before every key, to share a Redis with other data.
        timeout: seconds a check may wait for Redis before it counts as failed.
        retry_after_failure: seconds to skip Redis after a failure, so that an outage costs
            each request nothing instead of ``timeout`` (the limiter's ``on_backend_error``
            decides what those requests get).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "aaf-ratelimit:",
        timeout: float = 0.25,
        retry_after_failure: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if url is not None and client is not None:
            raise ValueError("RedisBackend takes a url= or a client=, not both")
        try:
            import redis.asyncio as redis  # the optional 'redis' extra
        except ImportError as exc:
            raise ImportError(
                "RedisBackend needs redis-py: pip install redis (aaf's 'redis' extra)"
            ) from exc
        self._errors: tuple[type[BaseException], ...] = (
            redis.RedisError,
            OSError,
            asyncio.TimeoutError,
        )
        if client is None:
            if url is None:
                raise ValueError("RedisBackend needs a url='redis://host:port/db' or a client=")
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after_failure = retry_after_failure
        self.clock = clock
        self._script = client.register_script(_GCRA_SCRIPT)
        self._down_until = 0.0

    async def hit(self, key: str, interval: float, period: float) -> tuple[bool, float]:
        if self._down_until and self.clock() < self._down_until:
            raise RateLimitBackendError("Redis failed recently; not asking again yet")
        try:
            async with asyncio.timeout(self.timeout):
                allowed, ahead = await self._script(
                    keys=[self.prefix + key], args=[repr(interval), repr(period)]
                )
        except self._errors as exc:
            self._down_until = self.clock() + self.retry_after_failure
            raise RateLimitBackendError(f"Redis rate limit check failed: {exc!r}") from exc
        self._down_until = 0.0
        return bool(allowed), float(ahead)

    async def aclose(self) -> None:
        await self.client.aclose()


def ceil_seconds(seconds: float) -> int:
    """Whole seconds for headers, never rounding a wait down to zero."""
    return max(0, math.ceil(seconds - _EPSILON))
