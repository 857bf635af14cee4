"""End-to-end benchmark over loopback: real servers, real sockets, wrk as the client.

The same cases and apps as ``bench/inprocess.py`` (hello, the ``<int:id>`` route that is the
last of 100 routes, a JSON echo POST), each served alone by uvicorn (``--http httptools
--loop uvloop``; uvloop is also what uvicorn[standard] picks by default) and by granian
(``--interface asgi --loop uvloop``), one worker each, on a free 127.0.0.1 port. Every app is
checked for the right answer before wrk loads it. Prints one Markdown table per server:
requests/s and the ratio to the raw ASGI app on the same server in the same run.

    python bench/e2e.py                       # 2 servers x 7 frameworks x 3 cases, ~4 minutes
    python bench/e2e.py --duration 3 --rounds 3   # steadier numbers (~8 minutes)
    python bench/e2e.py --quick               # a smoke run (1 s per cell, 8 connections)
    python bench/e2e.py --servers granian --frameworks aaf,starlette --cases echo

Needs ``wrk`` (``apt-get install wrk``) and the servers (``pip install -e '.[server,servers]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import CASES, FRAMEWORKS, Case, load

REPO = Path(__file__).resolve().parent.parent

HOST = "127.0.0.1"
SERVERS = ["uvicorn", "granian"]
# The served app is chosen by these environment variables (read by served_app in the server).
ENV_FRAMEWORK, ENV_CASE, ENV_ROUTES = "BENCH_E2E_FRAMEWORK", "BENCH_E2E_CASE", "BENCH_E2E_ROUTES"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
ERROR_MARK = "†"


def served_app() -> Any:
    """The app factory the server imports (``bench.e2e:served_app`` with ``--factory``)."""
    framework = os.environ[ENV_FRAMEWORK]
    module = load(framework)
    if module is None:
        raise RuntimeError(f"{framework} is not installed: pip install -e '.[bench]'")
    return module.build(os.environ[ENV_CASE], int(os.environ[ENV_ROUTES]))


@dataclass(frozen=True)
class ServerSpec:
    label: str
    modules: tuple[str, ...]  # what must be importable for the server to run
    command: Callable[[int], list[str]]


def uvicorn_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "bench.e2e:served_app", "--factory"),
        *("--host", HOST, "--port", str(port), "--workers", "1"),
        *("--http", "httptools", "--loop", "uvloop"),
        # PERF: an access log line per request would be measured as well.
        *("--no-access-log", "--log-level", "warning"),
    ]


def granian_command(port: int) -> list[str]:
    return [
        *(sys.executable, "-m", "granian", "--interface", "asgi", "--factory"),
        *("--host", HOST, "--port", str(port), "--workers", "1"),
        # granian's "auto" loop prefers rloop when installed; pin uvloop so both servers match.
        *("--loop", "uvloop", "--no-access-log", "--log-level", "warning"),
        "bench.e2e:served_app",
    ]


SERVER_SPECS = {
    "uvicorn": ServerSpec(
        "uvicorn (--http httptools --loop uvloop)",
        ("uvicorn", "httptools", "uvloop"),
        uvicorn_command,
    ),
    "granian": ServerSpec(
        "granian (--interface asgi --loop uvloop)", ("granian", "uvloop"), granian_command
    ),
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(framework: str, case: Case, routes: int) -> dict[str, str]:
    env = {**os.environ, ENV_FRAMEWORK: framework, ENV_CASE: case.name, ENV_ROUTES: str(routes)}
    # The server runs from the repository root; relative entries (PYTHONPATH=src) stay valid.
    inherited = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *inherited])
    return env


def log_tail(log: IO[bytes], size: int = 3000) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-size:]


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's PID; SIGKILL it (and its workers) if it is still up after a bound."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        # start_new_session made the server the leader of a group holding only its own workers,
        # so the group id is the PID we started: nothing else is reached.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT)


def request(port: int, case: Case) -> tuple[int, bytes]:
    headers = {"content-type": case.content_type.decode()} if case.content_type else {}
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        connection.request(case.method, case.path, body=case.body or None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_correct(port: int, case: Case, process: subprocess.Popen[bytes]) -> None:
    """Bounded readiness probe: poll until the app answers this case correctly."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        try:
            status, body = request(port, case)
        except OSError:
            time.sleep(0.05)
            continue
        if status != 200 or body.replace(b" ", b"") != case.expected_body.replace(b" ", b""):
            raise RuntimeError(
                f"answered {status} {body[:200]!r}; expected 200 {case.expected_body!r}"
            )
        return
    raise RuntimeError(f"nothing answered on {HOST}:{port} within {STARTUP_TIMEOUT:.0f}s")


@contextlib.contextmanager
def serving(server: str, framework: str, case: Case, routes: int) -> Iterator[int]:
    """Run one app under one server; yields its port once it answers the case correctly."""
    port = free_port()
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: nobody reads it while it runs
        process = subprocess.Popen(
            SERVER_SPECS[server].command(port),
            cwd=REPO,
            env=server_env(framework, case, routes),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            try:
                wait_until_correct(port, case, process)
            except RuntimeError as exc:
                raise SystemExit(
                    f"{server} serving {framework}/{case.name}: {exc}\n{log_tail(log)}"
                ) from None
            yield port
        finally:
            stop(process)


def lua_string(data: bytes) -> str:
    # Every byte as a 3-digit decimal escape: no quoting rules to get wrong.
    return '"' + "".join(f"\\{byte:03d}" for byte in data) + '"'


def write_wrk_script(case: Case, directory: Path) -> Path:
    lines = [f'wrk.method = "{case.method}"']
    if case.body:
        lines.append(f"wrk.body = {lua_string(case.body)}")
    if case.content_type:
        lines.append(f'wrk.headers["Content-Type"] = "{case.content_type.decode()}"')
    path = directory / f"{case.name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    errors: str  # empty when every response was 2xx/3xx and no socket failed


REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
REQUEST_COUNT = re.compile(r"^\s*(\d+) requests in ", re.MULTILINE)
SOCKET_ERRORS = re.compile(r"Socket errors: (.+)")
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def parse_wrk(output: str) -> WrkResult:
    rate = REQUESTS_PER_SECOND.search(output)
    count = REQUEST_COUNT.search(output)
    if rate is None or count is None:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    errors = []
    if (socket_errors := SOCKET_ERRORS.search(output)) is not None:
        errors.append(f"socket errors: {socket_errors.group(1).strip()}")
    if (non_2xx := NON_2XX.search(output)) is not None:
        errors.append(f"{non_2xx.group(1)} non-2xx/3xx responses")
    if int(count.group(1)) == 0:
        errors.append("no request completed")
    return WrkResult(float(rate.group(1)), int(count.group(1)), "; ".join(errors))


def run_wrk(port: int, case: Case, script: Path, seconds: int, connections: int) -> WrkResult:
    command = [
        *("wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script)),
        f"http://{HOST}:{port}{case.path}",
    ]
    # wrk stops itself after -d; the bound here only catches a wrk that hangs.
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    return parse_wrk(result.stdout)


@dataclass(frozen=True)
class Settings:
    servers: list[str]
    frameworks: list[str]
    cases: list[Case]
    seconds: int
    warmup: int
    connections: int
    rounds: int
    routes: int


Results = dict[tuple[str, str, str], WrkResult]


def combine(runs: list[WrkResult]) -> WrkResult:
    """The median rate of several rounds, with every error any round saw."""
    errors = dict.fromkeys(run.errors for run in runs if run.errors)
    return WrkResult(
        statistics.median(run.requests_per_second for run in runs),
        sum(run.requests for run in runs),
        " | ".join(errors),
    )


def measure(settings: Settings, scripts: dict[str, Path]) -> Results:
    """Every framework of one case runs side by side and is loaded in turn, round after round.

    Cells compared in a ratio are measured seconds apart, not minutes, so a change in the
    machine's load (other processes on a shared machine) skews the ratios less.
    """
    results: Results = {}
    total = len(settings.servers) * len(settings.cases) * len(settings.frameworks)
    for server in settings.servers:
        for case in settings.cases:
            script = scripts[case.name]
            with contextlib.ExitStack() as stack:
                ports = {
                    framework: stack.enter_context(
                        serving(server, framework, case, settings.routes)
                    )
                    for framework in settings.frameworks
                }
                runs: dict[str, list[WrkResult]] = {framework: [] for framework in ports}
                if settings.warmup:
                    for port in ports.values():
                        run_wrk(port, case, script, settings.warmup, settings.connections)
                for _ in range(settings.rounds):
                    for framework, port in ports.items():
                        runs[framework].append(
                            run_wrk(port, case, script, settings.seconds, settings.connections)
                        )
            for framework, framework_runs in runs.items():
                result = results[server, framework, case.name] = combine(framework_runs)
                note = f"  [{result.errors}]" if result.errors else ""
                print(
                    f"[{len(results)}/{total}] {server} {framework}/{case.name}: "
                    f"{result.requests_per_second:,.0f} req/s{note}",
                    file=sys.stderr,
                    flush=True,
                )
    return results


def table(server: str, settings: Settings, results: Results) -> list[str]:
    lines = [
        f"### {SERVER_SPECS[server].label} {importlib.metadata.version(server)}, 1 worker",
        "",
        "| framework | " + " | ".join(case.name for case in settings.cases) + " |",
        "| --- |" + " ---: |" * len(settings.cases),
    ]
    notes = []
    for framework in settings.frameworks:
        cells = []
        for case in settings.cases:
            result = results[server, framework, case.name]
            raw = results[server, "raw", case.name].requests_per_second
            ratio = f"{result.requests_per_second / raw:.2f}x" if raw else "n/a"
            cell = f"{result.requests_per_second:,.0f} ({ratio})"
            if result.errors:
                cell += ERROR_MARK
                notes.append(f"{ERROR_MARK} {framework}/{case.name}: {result.errors}")
            cells.append(cell)
        lines.append(f"| {framework} | " + " | ".join(cells) + " |")
    lines.extend(["", *(f"- {note}" for note in notes)] if notes else [])
    return lines


def report(settings: Settings, results: Results, loads: tuple[float, float]) -> str:
    rounds = f", median of {settings.rounds} rounds" if settings.rounds > 1 else ""
    lines = [
        f"End-to-end over loopback: requests/s (ratio to the raw ASGI app on the same server, "
        f"higher is better); wrk -t1 -c{settings.connections} -d{settings.seconds}s{rounds} "
        f"after a {settings.warmup}s warm-up; param = the last of {settings.routes} routes.",
        # A busy machine makes every number lower and the ratios noisier: say how busy it was.
        f"{os.cpu_count()} CPUs; 1-minute load average {loads[0]:.2f} before, "
        f"{loads[1]:.2f} after.",
    ]
    for server in settings.servers:
        lines.extend(["", *table(server, settings, results)])
    return "\n".join(lines)


def require_tools(servers: list[str]) -> None:
    """Exit with the fix when wrk or a server (or what it needs) is missing."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    for server in servers:
        missing = [m for m in SERVER_SPECS[server].modules if importlib.util.find_spec(m) is None]
        if missing:
            raise SystemExit(
                f"{server} needs {', '.join(missing)}: pip install -e '.[server,servers]'"
            )


def choose(option: str, given: str, known: list[str]) -> list[str]:
    chosen = [name.strip() for name in given.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown or not chosen:
        raise SystemExit(f"--{option}: unknown {unknown or given!r}; choose from {known}")
    return chosen


def parse_settings(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of load before that")
    parser.add_argument("--connections", type=int, default=32)
    # PERF: two interleaved rounds of 2 s, not one of 4 s: on a shared machine the load changes
    # within minutes, and the median over rounds spread in time follows it less.
    parser.add_argument("--rounds", type=int, default=2, help="median of this many runs a cell")
    parser.add_argument("--routes", type=int, default=100, help="route-table size for param")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--cases", default=",".join(case.name for case in CASES))
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: -d1 -c8, 1 round, no warm-up"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.connections, args.rounds = 1, 0, 8, 1
    if min(args.duration, args.connections, args.rounds) < 1 or args.warmup < 0:
        raise SystemExit("--duration, --connections and --rounds must be >= 1, --warmup >= 0")
    by_name = {case.name: case for case in CASES}
    frameworks = choose("frameworks", args.frameworks, FRAMEWORKS)
    if "raw" not in frameworks:
        frameworks.insert(0, "raw")  # the ratios need it
    return Settings(
        servers=choose("servers", args.servers, SERVERS),
        frameworks=frameworks,
        cases=[by_name[name] for name in choose("cases", args.cases, list(by_name))],
        seconds=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        rounds=args.rounds,
        routes=args.routes,
    )


def main(argv: list[str] | None = None) -> None:
    settings = parse_settings(argv)
    require_tools(settings.servers)
    installed = [f for f in settings.frameworks if load(f) is not None]  # load() says "skipped"
    settings = dataclasses.replace(settings, frameworks=installed)
    with tempfile.TemporaryDirectory(prefix="aaf-bench-") as directory:
        scripts = {case.name: write_wrk_script(case, Path(directory)) for case in settings.cases}
        load_before = os.getloadavg()[0]
        results = measure(settings, scripts)
    print(report(settings, results, (load_before, os.getloadavg()[0])))


if __name__ == "__main__":
    main()
