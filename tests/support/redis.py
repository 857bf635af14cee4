"""A throwaway ``redis-server`` for tests: loopback only, a free port, no persistence.

``with redis_server() as url:`` yields ``redis://127.0.0.1:PORT/0`` and stops the server after
the block; ``redis_process(port)`` yields the URL and the process (to freeze it with SIGSTOP, or
stop it and start another on the same ``port``). Without the binary it skips the test locally
and fails it under ``CI=true`` (CI installs the Debian package ``redis-server``).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator

from .servers import free_port, require_binary, run_process


@contextlib.contextmanager
def redis_server(timeout: float = 20.0) -> Iterator[str]:
    with redis_process(timeout=timeout) as (url, _):
        yield url


@contextlib.contextmanager
def redis_process(
    port: int | None = None, timeout: float = 20.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = require_binary("redis-server", hint="apt-get install redis-server")
    port = free_port() if port is None else port
    with tempfile.TemporaryDirectory(prefix="aaf-redis-") as workdir:
        command = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",  # no RDB snapshots
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--loglevel",
            "warning",
        ]
        with run_process(command, port, "redis-server", timeout=timeout) as process:
            yield f"redis://127.0.0.1:{port}/0", process
