"""Faults for a test's PostgreSQL server (``tests.support.postgres``): freeze it (``frozen``),
stop it and start it again on the same port (``Outage``).

Only processes the test started are signalled, by PID: the postmaster (its PID is in the data
directory's ``postmaster.pid``) and the processes it forked (its children in ``/proc``).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from .postgres import PostgresServer, _stop, _unprivileged_prefix, _wait_until_ready

__all__ = ["Outage", "frozen", "postmaster_pid"]


def _data(server: PostgresServer) -> Path:
    return server.directory / "data"


def postmaster_pid(server: PostgresServer) -> int:
    """The running postmaster's PID (the first line of ``postmaster.pid``)."""
    return int((_data(server) / "postmaster.pid").read_text().split("\n", 1)[0])


def _children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (name) state ppid ...": the name may hold spaces, so split after its ")".
        if int(stat.rpartition(")")[2].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def _signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


@contextlib.contextmanager
def frozen(server: PostgresServer) -> Iterator[None]:
    """The whole server stops answering (its sockets stay open, the kernel still accepts new
    connections) until the block ends: SIGSTOP to the postmaster, then to its processes."""
    postmaster = postmaster_pid(server)
    os.kill(postmaster, signal.SIGSTOP)  # first: a stopped postmaster forks no new backend
    pids = [postmaster]
    try:
        children = _children(postmaster)
        pids.extend(children)
        _signal_all(children, signal.SIGSTOP)
        yield
    finally:
        _signal_all(pids, signal.SIGCONT)


def _is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"  # ended; its parent (start_postgres's Popen) reaps it later


class Outage:
    """Stops the server (``stop()``: connections refused) and starts it again (``start()``)
    on the same port and data. Use it as a context manager: a server it started is stopped on
    exit, before ``start_postgres`` removes the directory."""

    def __init__(self, server: PostgresServer, timeout: float = 30.0) -> None:
        self.server = server
        self.timeout = timeout
        self._started: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Outage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self._started:
            _stop(self._started.pop())

    def stop(self) -> None:
        """Fast shutdown (SIGINT, what ``systemctl stop`` does): clients' connections are ended
        and the data is flushed (an immediate shutdown would lose the last commits, as the test
        server runs with ``synchronous_commit`` off)."""
        data = _data(self.server)
        postmaster = postmaster_pid(self.server)
        os.kill(postmaster, signal.SIGINT)
        deadline = time.monotonic() + self.timeout
        while not _is_gone(postmaster) or (data / "postmaster.pid").exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres (pid {postmaster}) did not stop in {self.timeout}s")
            time.sleep(0.05)

    def start(self) -> None:
        """Start the server again with the command line it last ran with (PostgreSQL keeps it
        in ``postmaster.opts``), and wait until it accepts connections."""
        command = shlex.split((_data(self.server) / "postmaster.opts").read_text())
        with open(self.server.directory / "restarted.log", "ab") as log:
            process = subprocess.Popen(
                [*_unprivileged_prefix(self.server.directory), *command],
                cwd=self.server.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._started.append(process)
        _wait_until_ready(process, self.server.bin_dir, self.server.port, self.timeout)
