"""Configuration from environment variables, read once at start-up.

``DATABASE_URL``  ``sqlite:///tasks.db`` (default: a file in the working directory) or
                  ``postgresql://user:password@host:5432/dbname``.
``REDIS_URL``     ``redis://host:6379/0`` to share real-time events between processes
                  (unset: in-process only).
``HOST``/``PORT`` where ``python -m examples.tasks`` listens (default 127.0.0.1:8000).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_DATABASE_URL", "Settings"]

DEFAULT_DATABASE_URL = "sqlite:///tasks.db"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000

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
        )

    def __repr__(self) -> str:
        # URLs may carry passwords; the repr shows where, not how to log in.
        return (
            f"Settings(database_url={_without_password(self.database_url)!r}, "
            f"redis_url={_without_password(self.redis_url)!r}, host={self.host!r}, "
            f"port={self.port})"
        )


def _without_password(url: str | None) -> str | None:
    if url is None or "@" not in url or "://" not in url:
        return url
    scheme, _, rest = url.partition("://")
    credentials, _, location = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{location}" if ":" in credentials else url
