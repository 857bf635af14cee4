"""A throwaway ``redis-server`` for tests: loopback only, a free port, no persistence.

``with redis_server() as url:`` yields ``redis://127.0.0.1:PORT/0`` and stops the server after
the block. Without the binary it skips the test locally and fails it under ``CI=true`` (CI
installs the Debian package ``redis-server``).
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator

from .servers import free_port, require_binary, stop, tail, wait_for_port


@contextlib.contextmanager
def redis_server(timeout: float = 20.0) -> Iterator[str]:
    binary = require_binary("redis-server", hint="apt-get install redis-server")
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="aaf-redis-") as workdir,
        tempfile.TemporaryFile() as log,
    ):
        process = subprocess.Popen(
            [
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
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            try:
                wait_for_port(port, process, timeout)
            except Exception:
                stop(process)
                raise RuntimeError(f"redis-server did not start:\n{tail(log)}") from None
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            stop(process)
