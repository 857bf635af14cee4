"""tests/support/postgres.py: a real server, as an unprivileged user when we are root."""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import asyncpg
import pytest

from ..support.postgres import PostgresServer, start_postgres


def _owner_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])  # the real uid
    raise AssertionError(f"no Uid line for process {pid}")


async def test_the_server_answers_sql(postgres_server: PostgresServer) -> None:
    conn = await asyncpg.connect(postgres_server.dsn)
    try:
        assert await conn.fetchval("SELECT current_database()") == postgres_server.database
        assert await conn.fetchval("SHOW server_encoding") == "UTF8"
        assert await conn.fetchval("SELECT lower('ÉCRIRE')") == "écrire"
        # The process serving this connection (it exits when the connection closes).
        backend_uid = _owner_uid(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()
    # PostgreSQL refuses root; under root (as in CI) it runs as the 'postgres' user instead.
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert backend_uid == expected


async def test_reset_empties_the_database(postgres_server: PostgresServer) -> None:
    dsn = await postgres_server.areset()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE leftover (x int)")
    finally:
        await conn.close()
    await postgres_server.areset()
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('leftover')") is None
    finally:
        await conn.close()


@pytest.mark.integration
def test_a_server_of_its_own_is_created_and_removed() -> None:
    with start_postgres("own_db") as server:
        assert server.dsn.endswith(f"@127.0.0.1:{server.port}/own_db")
        assert (server.directory / "data" / "PG_VERSION").is_file()
        # The unix socket lives in the temporary directory too, not in /var/run.
        assert (server.directory / f".s.PGSQL.{server.port}").exists()
        assert server.create_database("second").endswith("/second")
        with pytest.raises(RuntimeError, match="already exists"):
            server.create_database("second")
        with pytest.raises(ValueError, match="plain identifier"):
            server.create_database("x; DROP")
    assert not server.directory.exists()
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", server.port))
