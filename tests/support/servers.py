"""Start real ASGI servers (and other services) as subprocesses on free loopback ports.

Integration tests use these: each server runs until the context manager exits, is bounded in
time, and is stopped (then killed if it does not stop) even when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

import pytest

REPO = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def require_binary(name: str, *, hint: str) -> str:
    """The path of ``name``; skips locally, fails under CI=true, when it is missing."""
    path = shutil.which(name)
    if path is None:
        # The newest PostgreSQL first (a numeric sort: 16 is newer than 9.6).
        for candidate in sorted(
            Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
            key=lambda path: [int(p) for p in path.parts[-3].split(".") if p.isdigit()],
            reverse=True,
        ):
            return str(candidate)
        message = f"{name} is not installed ({hint})"
        if IN_CI:
            pytest.fail(f"{message}; CI must install it (.ci/run)")
        pytest.skip(message)
    return path


def server_command(server: str, target: str, port: int) -> list[str]:
    host = "127.0.0.1"
    python = sys.executable
    commands = {
        "uvicorn": [
            python,
            "-m",
            "uvicorn",
            target,
            "--host",
            host,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        "aaf": [
            python,
            "-m",
            "aaf.cli",
            "run",
            target,
            "--host",
            host,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        "hypercorn": [python, "-m", "hypercorn", target, "--bind", f"{host}:{port}"],
        "daphne": [python, "-m", "daphne", "-b", host, "-p", str(port), target],
        "granian": [
            python,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            host,
            "--port",
            str(port),
            "--log-level",
            "warning",
            target,
        ],
        "gunicorn": [
            python,
            "-m",
            "gunicorn",
            "-k",
            "uvicorn_worker.UvicornWorker",
            "-w",
            "2",
            "-b",
            f"{host}:{port}",
            "--log-level",
            "warning",
            target,
        ],
    }
    return commands[server]


def repo_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server process: this one's, unbuffered, with the repository
    importable (``examples.*``, ``tests.support.*``)."""
    process_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra or {})}
    process_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), process_env.get("PYTHONPATH", "")) if p
    )
    return process_env


@contextlib.contextmanager
def serve(
    target: str,
    *,
    server: str = "uvicorn",
    env: Mapping[str, str] | None = None,
    cwd: Path = REPO,
    timeout: float = 30.0,
) -> Iterator[str]:
    """Run ``target`` (module:app) under ``server``; yields its base URL."""
    port = free_port()
    process_env = repo_env(env)
    with run_process(
        server_command(server, target, port),
        port,
        f"{server} serving {target}",
        timeout=timeout,
        cwd=cwd,
        env=process_env,
    ):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def run_process(
    command: list[str],
    port: int,
    what: str,
    *,
    timeout: float = 30.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: IO[bytes] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command``, wait until it listens on ``port``, and always stop it afterwards.

    Its stderr goes to ``log`` (a temporary file unless given, e.g. to read it afterwards); if
    it does not start, the error carries the end of it.
    """
    # A file, not a pipe: nobody reads while the process runs, and a pipe could fill up.
    with contextlib.ExitStack() as stack:
        if log is None:
            log = stack.enter_context(tempfile.TemporaryFile())
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            try:
                wait_for_port(port, process, timeout)
            except Exception:
                stop(process)
                raise RuntimeError(f"{what} did not start:\n{tail(log)}") from None
            yield process
        finally:
            stop(process)


def tail(log: IO[bytes], size: int = 4000) -> str:
    """The end of a process's log file (for an error message)."""
    log.seek(0)
    return log.read().decode(errors="replace")[-size:]


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL if it is still there after ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
