"""``aaf run`` under a real uvicorn: the WebSocket frame limit comes from the app, refused
handshakes log no error, and aaf's loggers print with a level and a time."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from aaf import cli

from .support.run_app import WEBSOCKET_LIMIT
from .support.servers import REPO, free_port, repo_env, run_process, tail

TARGET = "tests.support.run_app:app"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.MULTILINE)


class Served:
    def __init__(self, port: int, log: Any, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process
        self._log = log

    def stderr(self) -> str:
        text: str = tail(self._log, size=100_000)
        return text


@contextlib.contextmanager
def aaf_run(*options: str, target: str = TARGET) -> Iterator[Served]:
    """``aaf run`` on the test app in a subprocess; yields its port and (later) its stderr."""
    port = free_port()
    command = [sys.executable, "-m", "aaf.cli", "run", target, "--port", str(port), *options]
    with (
        tempfile.TemporaryFile() as log,
        run_process(command, port, "aaf run", cwd=REPO, env=repo_env(), log=log) as process,
    ):
        yield Served(port, log, process)


def test_run_passes_the_apps_websocket_limit_and_wsproto(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    assert cli.main(["run", TARGET]) == 0
    assert calls[-1]["ws_max_size"] == WEBSOCKET_LIMIT
    assert calls[-1]["ws"] == "wsproto"
    assert calls[-1]["access_log"] is True
    assert cli.main(["run", TARGET, "--ws-max-size", "99", "--ws", "websockets-sansio"]) == 0
    assert (calls[-1]["ws_max_size"], calls[-1]["ws"]) == (99, "websockets-sansio")
    assert cli.main(["run", TARGET, "--no-access-log"]) == 0
    assert calls[-1]["access_log"] is False


def test_a_route_that_raises_the_limit_raises_the_servers() -> None:
    from aaf import Limits, Router, aaf
    from aaf._run_config import websocket_limit
    from aaf.limits import DEFAULT_LIMITS

    router = Router()

    async def upload(conn: Any) -> None:
        return None

    router.websocket("/upload", limits=Limits(max_websocket_message=5000))(upload)
    router.websocket("/small", limits=Limits(max_websocket_message=10))(upload)
    app = aaf([router], limits=Limits(max_websocket_message=1000))
    # The server must let through what the most generous route accepts; aaf enforces the rest.
    assert websocket_limit(app) == 5000
    assert websocket_limit(aaf([router])) == DEFAULT_LIMITS.websocket_message  # 1 MiB > 5000


def test_a_non_aaf_target_keeps_uvicorns_frame_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    import uvicorn

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        return None

    module = types.ModuleType("fake_raw_asgi_module")
    module.app = raw  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_raw_asgi_module", module)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    assert cli.main(["run", "fake_raw_asgi_module:app"]) == 0
    assert "ws_max_size" not in calls[-1]


def test_a_custom_log_config_replaces_aafs(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    assert cli.main(["run", TARGET, "--log-config", "logging.json"]) == 0
    assert calls[-1]["log_config"] == "logging.json"
    assert cli.main(["run", TARGET]) == 0
    assert "aaf" in calls[-1]["log_config"]["loggers"]


def test_an_unknown_log_level_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", TARGET, "--log-level", "loud"]) == 2
    assert "unknown --log-level 'loud'" in capsys.readouterr().err


async def _send_oversized_frame(port: int) -> tuple[int | None, str]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(f"ws://127.0.0.1:{port}/echo", max_size=None, open_timeout=10) as ws:
        await ws.send("x" * (1024 * 1024))
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as exc:
            if exc.rcvd is None:
                return None, ""
            return exc.rcvd.code, exc.rcvd.reason
    return None, "not closed"


async def _refused_handshake(port: int) -> int:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as info:
        async with connect(f"ws://127.0.0.1:{port}/refused", open_timeout=10):
            pass
    return info.value.response.status_code


async def _big_handshake(port: int) -> str:
    from websockets.asyncio.client import connect

    headers = {"X-Padding": "p" * 9000}
    async with connect(
        f"ws://127.0.0.1:{port}/echo", additional_headers=headers, open_timeout=10
    ) as ws:
        await ws.send("hello")
        reply = await asyncio.wait_for(ws.recv(), 10)
    return str(reply)


@pytest.mark.integration
def test_the_server_refuses_a_frame_over_the_apps_limit() -> None:
    with aaf_run("--log-level", "info") as served:
        code, reason = asyncio.run(_send_oversized_frame(served.port))
        # 1009 with uvicorn's reason: the server stopped reading at the app's limit, rather
        # than buffering the whole megabyte (its 16 MiB default) and leaving aaf to refuse it.
        assert code == 1009
        assert f"({WEBSOCKET_LIMIT} bytes)" in reason
        assert asyncio.run(_refused_handshake(served.port)) == 403
        assert asyncio.run(_big_handshake(served.port)) == "hello"
        stderr = served.stderr()
    assert "ERROR" not in stderr, stderr


@pytest.mark.integration
def test_aaf_errors_print_with_level_and_time() -> None:
    import httpx

    with aaf_run("--log-level", "info") as served:
        base = f"http://127.0.0.1:{served.port}"
        assert httpx.get(f"{base}/boom", timeout=30).status_code == 500
        assert httpx.get(f"{base}/note", timeout=30).text == "noted"
        stderr = served.stderr()
    error_lines = [line for line in stderr.splitlines() if "[aaf.error]" in line]
    assert error_lines, stderr
    assert "ERROR" in error_lines[0]
    assert TIMESTAMP.match(error_lines[0]), error_lines[0]
    assert "boom from the run test app" in stderr
    assert "an aaf info line" in stderr


@pytest.mark.integration
def test_log_level_warning_hides_aafs_info_lines() -> None:
    import httpx

    with aaf_run("--log-level", "warning") as served:
        base = f"http://127.0.0.1:{served.port}"
        assert httpx.get(f"{base}/note", timeout=30).text == "noted"
        assert httpx.get(f"{base}/boom", timeout=30).status_code == 500
        stderr = served.stderr()
    assert "an aaf info line" not in stderr
    assert "[aaf.error]" in stderr  # the ERROR still shows: the level filters, not the handler


@pytest.mark.integration
def test_ctrl_c_with_an_event_stream_open_prints_no_traceback() -> None:
    with aaf_run("--timeout-graceful-shutdown", "1", target="examples.demo.app:app") as served:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as stream:
            stream.sendall(b"GET /feed HTTP/1.1\r\nHost: demo\r\nAccept: text/event-stream\r\n\r\n")
            assert stream.recv(100).startswith(b"HTTP/1.1 200")
            served.process.send_signal(signal.SIGINT)
            assert served.process.wait(30) == 0
        stderr = served.stderr()
    assert "Finished server process" in stderr, stderr
    assert "Traceback" not in stderr, stderr
    # aaf ended the stream itself (App(close_on_shutdown=True)): nothing was left to cancel.
    assert "cancelled at shutdown" not in stderr, stderr
