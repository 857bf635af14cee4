"""The benchmarks still run (each checks every app's answer before timing it).

No timing is asserted here: numbers come from running the benchmarks themselves.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .support.servers import REPO


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
        ("uploads.py --quick", ["aaf", "starlette"]),
        ("broadcast.py --quick", ["asyncio.Queue", "memory://"]),
        ("middleware.py --quick", ["cors", "compression", "sessions", "access log"]),
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
