"""A throwaway PostgreSQL server for tests: its own data directory, a free loopback port.

``with start_postgres() as server:`` runs ``initdb`` into a temporary directory, starts
``postgres`` on 127.0.0.1 (its unix socket stays in that directory too), creates a database and
yields a :class:`PostgresServer` whose ``dsn`` points at it; ``server.create_database(name)``
makes more (one per test keeps tests independent). On exit the server is stopped and the
directory removed, also when the test failed.

PostgreSQL refuses to run as root. CI runs as root, so then ``initdb`` and ``postgres`` run as
the unprivileged ``postgres`` user (created by Debian's ``postgresql`` package) through
``setpriv``, which executes the program in place: the process we stop is the server itself.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .servers import IN_CI, free_port, require_binary

SUPERUSER = "postgres"
# Tuned for tests: durability off (the data is thrown away), so commits cost no fsync.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    bin_dir: Path
    database: str
    directory: Path  # data directory, socket and log; removed when the server stops

    @property
    def dsn(self) -> str:
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (a plain identifier) and return its DSN."""
        if not name.isidentifier():
            raise ValueError(f"database name {name!r} must be a plain identifier")
        _run_client(self, "createdb", name)
        return self.dsn_for(name)

    async def areset(self) -> str:
        """Empty ``database`` (drop and recreate its public schema) and return its DSN.

        Much cheaper than a new database per test (CREATE DATABASE copies a template).
        """
        import asyncpg  # the 'examples' extra; only async tests call this

        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()
        return self.dsn


def _run_client(server: PostgresServer, program: str, *args: str) -> None:
    command = [
        str(server.bin_dir / program),
        "-h",
        server.host,
        "-p",
        str(server.port),
        "-U",
        SUPERUSER,
        *args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{program} {' '.join(args)} failed: {result.stderr.strip()}")


def _unprivileged_prefix(directory: Path) -> list[str]:
    """The command prefix that drops root (and hands ``directory`` over), or [] if not root."""
    if os.geteuid() != 0:
        return []
    try:
        account = pwd.getpwnam(SUPERUSER)
    except KeyError:
        message = (
            "PostgreSQL cannot run as root and there is no 'postgres' user to run it as "
            "(install Debian's postgresql package, which creates it)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        message = "setpriv (util-linux) is needed to run PostgreSQL as 'postgres' when root"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    os.chown(directory, account.pw_uid, account.pw_gid)
    return [setpriv, f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"]


def _wait_until_ready(
    process: subprocess.Popen[bytes], bin_dir: Path, port: int, timeout: float
) -> None:
    """Poll ``pg_isready``: an open port alone may still answer "the system is starting up"."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode} before it was ready")
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)],
            timeout=10,
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.05)
    raise TimeoutError(f"postgres was not ready on 127.0.0.1:{port} within {timeout}s")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Immediate shutdown (SIGQUIT: no final checkpoint, the data is thrown away anyway);
    SIGKILL if it hangs."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


@contextlib.contextmanager
def start_postgres(
    database: str = "aaf_test", *, timeout: float = 30.0
) -> Iterator[PostgresServer]:
    """Run a fresh PostgreSQL server with ``database`` created; stopped and removed on exit."""
    postgres = Path(require_binary("postgres", hint="apt-get install postgresql"))
    # initdb, pg_isready and createdb must come from the same version as the server.
    bin_dir = postgres.resolve().parent
    # Not pytest's tmp_path: that lives under a 0700 directory the 'postgres' user cannot enter.
    directory = Path(tempfile.mkdtemp(prefix="aaf-pg-"))
    process: subprocess.Popen[bytes] | None = None
    log_path = directory / "server.log"
    try:
        prefix = _unprivileged_prefix(directory)
        data = directory / "data"
        initdb = subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
                # A UTF-8 locale so lower() folds non-ASCII letters like Python does.
                "--locale=C.UTF-8",
            ],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout[-2000:]}{initdb.stderr[-2000:]}")
        port = free_port()
        settings = [
            arg for key, value in SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [
                    *prefix,
                    str(postgres),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-k",
                    str(directory),
                    *settings,
                ],
                cwd=directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_ready(process, bin_dir, port, timeout)
        except Exception as exc:
            _stop(process)
            raise RuntimeError(f"{exc}; server log:\n{_tail(log_path)}") from None
        server = PostgresServer("127.0.0.1", port, bin_dir, database, directory)
        server.create_database(database)
        yield server
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(directory, ignore_errors=True)
