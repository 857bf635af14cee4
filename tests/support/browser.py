"""Headless Chromium for the tests: Debian's ``chromium`` driven by Playwright.

Playwright only drives the system browser: ``playwright install`` is never needed. Browser test
modules call :func:`require_playwright` before importing ``playwright.async_api`` (a local run
without the 'browser' extra skips them; CI fails) and take the ``browser`` fixture
(tests/conftest.py), which launches Chromium with :data:`CHROMIUM_ARGS`.
"""

from __future__ import annotations

import importlib
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest

from .servers import IN_CI

if TYPE_CHECKING:
    from playwright.async_api import Browser

__all__ = ["CHROMIUM_ARGS", "TIMEOUT_MS", "chromium", "launched_browser", "require_playwright"]

CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # The machine's network is closed: no background requests to Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: How long a page action or expectation may wait, in milliseconds.
TIMEOUT_MS = 10_000


def require_playwright() -> None:
    """Skip the calling test module when Playwright is missing (fail under CI=true)."""
    try:
        importlib.import_module("playwright.async_api")
    except ImportError:  # the 'browser' extra
        if IN_CI:
            raise
        pytest.skip(
            "playwright is not installed (pip install playwright: aaf's 'browser' extra)",
            allow_module_level=True,
        )


def chromium() -> str:
    """The system Chromium's path (skip locally, fail under CI when it is missing)."""
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{message}; CI must install it (.ci/run)")
        pytest.skip(message)
    return path


@asynccontextmanager
async def launched_browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    executable = chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield browser
        finally:
            await browser.close()
