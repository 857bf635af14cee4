"""The benchmarks still run (each checks every app's answer before timing it).

No timing is asserted here: numbers come from running the benchmarks themselves.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from .support.servers import REPO, require_binary


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "inprocess.py --quick",
            [
                "raw",
                "aaf",
                "starlette",
                "fastapi",
                "litestar",
                "blacksheep",
                "falcon",
                "1000 routes",
            ],
        ),
        ("websocket.py --quick", ["raw", "aaf", "starlette"]),
        (
            "typed.py --quick",
            ["aaf typed", "aaf by hand", "fastapi", "litestar", "blacksheep", "1000 typed routes"],
        ),
        ("uploads.py --quick", ["aaf", "starlette"]),
        ("broadcast.py --quick", ["asyncio.Queue", "memory://"]),
        (
            "middleware.py --quick",
            [
                "cors",
                "compression",
                "sessions",
                "access log",
                "csrf",
                "api key",
                "basic auth",
                "metrics (prometheus)",
                "tracing (otel, no-op provider)",
                "tracing (otel SDK, no exporter)",
                "inspector",
            ],
        ),
    ],
)
def test_benchmark_runs_and_prints_every_row(script: str, expected: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, f"bench/{script.split()[0]}", *script.split()[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped" not in result.stderr, result.stderr[-2000:]
    for row in expected:
        assert row in result.stdout, (row, result.stdout)


# One cell of the table: requests/s, then the ratio to the raw app ("41,230 (0.78x)").
E2E_ROW = re.compile(r"^\| (raw|aaf) \| \d[\d,]* \((\d+\.\d\d)x\) \|$", re.MULTILINE)


@pytest.mark.integration
def test_e2e_benchmark_serves_over_loopback_and_prints_numbers() -> None:
    require_binary("wrk", hint="apt-get install wrk")
    result = subprocess.run(
        [
            sys.executable,
            "bench/e2e.py",
            "--quick",
            "--servers",
            "uvicorn",
            "--frameworks",
            "raw,aaf",
            "--cases",
            "hello",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "skipped" not in result.stderr, result.stderr[-2000:]
    assert "| framework | hello |" in result.stdout, result.stdout
    rows = {m.group(1): m.group(2) for m in E2E_ROW.finditer(result.stdout)}
    assert list(rows) == ["raw", "aaf"], result.stdout
    assert rows["raw"] == "1.00", result.stdout
    # wrk saw only 2xx answers and no socket errors (the table marks a cell that had any).
    assert "†" not in result.stdout, result.stdout
