"""Configuration from environment variables, read once at start-up.

``DATABASE_URL``  ``sqlite:///tasks.db`` (default: a file in the working directory) or
                  ``postgresql://user:password@host:5432/dbname``.
``REDIS_URL``     ``redis://host:6379/0`` to share real-time events between processes
                  (unset: in-process only).
``HOST``/``PORT`` where ``python -m examples.tasks`` listens (default 127.0.0.1:8000).
``DATABASE_TIMEOUT`` seconds one database operation may wait in all (a free pooled connection,
                  connecting, the statement; SQLite: its busy timeout), default 2. Past it the
                  request gets a 503 with ``Retry-After`` instead of waiting for the outage.
``PUBLISH_TIMEOUT`` seconds a write waits to publish its change event (Redis), default 0.5;
                  past it the event is dropped with a warning and the write answers anyway.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_DATABASE_TIMEOUT",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_PUBLISH_TIMEOUT",
    "Settings",
]

DEFAULT_DATABASE_URL = "sqlite:///tasks.db"
# Long enough for any statement of this API on a healthy database (they take milliseconds),
# short enough that a client hears "try again" before it gives up on its own.
DEFAULT_DATABASE_TIMEOUT = 2.0
# A write's answer waits at most this long for its feed event: the change is stored already.
DEFAULT_PUBLISH_TIMEOUT = 0.5
# Bounds are for outages, not for tuning throughput: anything longer is a typo.
MAX_TIMEOUT = 300.0


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    database_timeout: float = DEFAULT_DATABASE_TIMEOUT
    publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT

    def __post_init__(self) -> None:
        for name in ("database_timeout", "publish_timeout"):
            _check_seconds(name.upper(), getattr(self, name))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        port_text = env.get("PORT", "").strip() or "8000"
        if not (port_text.isascii() and port_text.isdigit()) or not 0 < int(port_text) < 65536:
            raise ValueError(f"PORT must be a number from 1 to 65535, not {port_text!r}")
        return cls(
            database_url=env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
            redis_url=env.get("REDIS_URL", "").strip() or None,
            host=env.get("HOST", "").strip() or "127.0.0.1",
            port=int(port_text),
            database_timeout=_seconds(env, "DATABASE_TIMEOUT", DEFAULT_DATABASE_TIMEOUT),
            publish_timeout=_seconds(env, "PUBLISH_TIMEOUT", DEFAULT_PUBLISH_TIMEOUT),
        )

    def __repr__(self) -> str:
        # URLs may carry passwords; the repr shows where, not how to log in.
        return (
            f"Settings(database_url={_without_password(self.database_url)!r}, "
            f"redis_url={_without_password(self.redis_url)!r}, host={self.host!r}, "
            f"port={self.port}, database_timeout={self.database_timeout}, "
            f"publish_timeout={self.publish_timeout})"
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{name} must be a number of seconds such as 2 or 0.5, not {text!r}"
        ) from None


def _check_seconds(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise ValueError(
            f"{name} must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, not {value!r}"
        )


def _without_password(url: str | None) -> str | None:
    if url is None or "@" not in url or "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, location = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{location}" if ":" in credentials else url
