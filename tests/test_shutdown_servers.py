"""SIGTERM under every server with open event streams and WebSockets (issue 12, item 4).

The demo runs under each server with two ``/feed`` clients and two chat members connected; the
server's PID gets SIGTERM. aaf must end the streams cleanly (the chunked body's last chunk, so
a browser reconnects elsewhere) and close the WebSockets with 1001, and the server must exit in
time, with no traceback or ERROR line in its log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests.support.servers import free_port, repo_env, run_process, server_command, tail

pytestmark = pytest.mark.integration

DEMO = "examples.demo.app:app"
# daphne runs no lifespan, so the demo (which opens its database and broadcast there) cannot
# serve under it: a smaller app with an endless event stream and a WebSocket echo stands in.
REALTIME = "tests.support.realtime_app:app"
#: What aaf itself may take to end everything, on top of what the server needs to stop.
AAF_BOUND = 2.0

# Each server's own time to stop once nothing is open (gunicorn's master polls its workers
# about once a second); each is run with its graceful timeout well above it, so a stream or
# socket aaf failed to end shows as a late exit.
SERVER_GRACE = {
    "uvicorn": 0.0,
    "aaf": 0.0,
    "hypercorn": 0.0,
    "daphne": 0.0,
    "granian": 1.0,
    "gunicorn": 1.5,
}
SERVERS = list(SERVER_GRACE)
# autobahn (daphne's WebSocket library) refuses to send 1001 from a server: aaf falls back to
# 1000 with the same reason, "server shutting down".
CLOSE_CODES = {"daphne": 1000}
STOPPED_BY_SIGTERM = -signal.SIGTERM
EXIT_CODES = {
    "uvicorn": {STOPPED_BY_SIGTERM},
    "aaf": {STOPPED_BY_SIGTERM},
    "hypercorn": {0},
    "daphne": {0},
    "granian": {0},
    "gunicorn": {0},
}


def _command(server: str, target: str, port: int) -> list[str]:
    command = server_command(server, target, port)
    # 20 s of grace where the server has one: far more than the bound, so only aaf ending the
    # connections keeps the exit early.
    extra = {
        "gunicorn": ["--graceful-timeout", "20"],
        # --workers 0: the app runs in the process that gets the signal (see the docs).
        "hypercorn": ["--graceful-timeout", "20", "--workers", "0"],
        "granian": ["--workers-kill-timeout", "20"],
    }.get(server, [])
    if server == "gunicorn":
        # One worker keeps the chat room in one process (memory broadcast).
        command[command.index("-w") + 1] = "1"
    at = command.index(target)
    return command[:at] + extra + command[at:]


async def _open_feed(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1".encode()
        + b"\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"chunked" in head.lower(), head
    # The first frame (the current id): the stream is live.
    await asyncio.wait_for(reader.readuntil(b"\n\n"), 10)
    return reader, writer


async def _feed_end(reader: asyncio.StreamReader) -> bytes:
    """Everything the stream sent until the server closed the connection."""
    return await asyncio.wait_for(reader.read(), 15)


async def _join_chat(port: int, user: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/chat/lobby?user={user}", open_timeout=10)
    await asyncio.wait_for(ws.recv(), 10)  # a user_joined event: the member is in the room
    return ws


async def _join_echo(port: int, user: str) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{port}/echo/lobby", open_timeout=10)
    await ws.send(user)
    await asyncio.wait_for(ws.recv(), 10)  # the echo: the handler is in its receive loop
    return ws


async def _close_code(ws: ClientConnection) -> int | None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 15)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


async def _scenario(
    process: subprocess.Popen[bytes], port: int, target: str
) -> tuple[float, list[bytes], list[int | None]]:
    demo = target == DEMO
    feeds = [await _open_feed(port, "/feed" if demo else "/events") for _ in range(2)]
    join = _join_chat if demo else _join_echo
    members = [await join(port, f"user{i}") for i in range(2)]
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    ends = await asyncio.gather(*(_feed_end(reader) for reader, _ in feeds))
    codes = await asyncio.gather(*(_close_code(ws) for ws in members))
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, process.wait, 30)
    elapsed = time.monotonic() - started
    for _, writer in feeds:
        writer.close()
    return elapsed, list(ends), list(codes)


@pytest.mark.parametrize("server", SERVERS)
def test_sigterm_ends_streams_and_websockets(server: str, tmp_path: Path) -> None:
    port = free_port()
    target = REALTIME if server == "daphne" else DEMO
    env = repo_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}"})
    env.pop("REDIS_URL", None)  # memory broadcast: one process, no Redis needed
    command = _command(server, target, port)
    with tempfile.TemporaryFile() as log:
        with run_process(command, port, f"{server} serving {target}", env=env, log=log) as process:
            elapsed, ends, codes = asyncio.run(_scenario(process, port, target))
            returncode = process.returncode
        output = tail(log, 20000)
    # uvicorn (also under aaf run) re-raises the signal once it has shut down, so its exit
    # status is "killed by SIGTERM", like a process without handlers; the others exit 0.
    assert returncode in EXIT_CODES[server], (returncode, output)
    for end in ends:
        # The chunked body's last chunk: the stream ended, it was not cut.
        assert end.endswith(b"0\r\n\r\n"), (end[-200:], output)
    assert codes == [CLOSE_CODES.get(server, 1001)] * 2, output
    assert elapsed < AAF_BOUND + SERVER_GRACE[server], (elapsed, output)
    assert "Traceback" not in output, output
    assert "ERROR" not in output, output


def test_hypercorn_worker_processes_end_within_their_graceful_timeout(tmp_path: Path) -> None:
    """hypercorn with worker processes (its default, ``--workers 1``) gives the app no way to
    learn about the stop: the parent catches SIGTERM and sets a multiprocessing event that the
    workers poll (hypercorn/run.py); the workers install no signal handler (their
    ``shutdown_trigger`` is that poll, hypercorn/asyncio/run.py) and run the lifespan shutdown
    only after their graceful timeout. So the graceful timeout bounds the exit; what is still
    open is then cut by hypercorn, which logs its own cancelled tasks (frames in hypercorn and
    asyncio only): nothing of aaf's or the app's may be in the log."""
    grace = 1.0
    port = free_port()
    env = repo_env({"DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}"})
    env.pop("REDIS_URL", None)
    command = server_command("hypercorn", DEMO, port)
    at = command.index(DEMO)
    command[at:at] = ["--graceful-timeout", str(int(grace)), "--workers", "1"]
    with tempfile.TemporaryFile() as log:
        with run_process(command, port, "hypercorn serving the demo", env=env, log=log) as process:
            elapsed, _, _ = asyncio.run(_scenario(process, port, DEMO))
            returncode = process.returncode
        output = tail(log, 200_000)
    assert returncode == 0, output
    assert elapsed < AAF_BOUND + grace, (elapsed, output)
    frames = [line for line in output.splitlines() if line.lstrip().startswith('File "')]
    ours = [line for line in frames if "/aaf/" in line or "/examples/" in line]
    assert not ours, output
    assert "[aaf" not in output, output
