"""The demo page tells the truth about its state, at a phone's and a desktop's width: loading,
empty and saving; errors in a sentence with a retry; reconnecting (with backoff) when the
server stops or answers 503 / closes 1013; a refused chat with the server's reason; the name the
server uses. Headless Chromium as in test_browser.py; screenshots in test-artifacts/."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from examples.chat import ChatTokens

from ..support.browser import require_playwright
from ..support.redis import redis_process
from ..support.servers import free_port, repo_env, run_process, serve, server_command
from . import test_browser as shared
from .test_browser import Tab, open_tab, screenshot

# The shared fixtures, by name (pytest looks fixtures up among a module's attributes).
demo_url = shared.demo_url
fresh_demo_url = shared.fresh_demo_url
width = shared.width

require_playwright()

from playwright.async_api import Browser, Route, WebSocketRoute, expect  # noqa: E402

pytestmark = pytest.mark.integration

SECRET = "a-browser-test-secret-long-enough-for-hs256"
SLOW_MS = 25_000  # waits that span a backoff (at most about 10 s between tries)


@pytest.fixture(scope="module")
def jwt_demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo with JWT sign-in for the chat."""
    database = tmp_path_factory.mktemp("jwt") / "tasks.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": "", "CHAT_JWT_SECRET": SECRET}
    with serve("examples.demo.app:app", env=env) as url:
        yield url


def is_path(path: str) -> Callable[[str], bool]:
    return lambda url: urlsplit(url).path == path


async def eventually(condition: Callable[[], bool], within: float = SLOW_MS / 1000) -> None:
    """Wait until ``condition()`` holds (checked every 50 ms); fail after ``within`` s."""
    for _ in range(int(within / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"still not true after {within}s")


async def test_loading_empty_and_saving_are_shown(
    browser: Browser, fresh_demo_url: str, width: int, request: pytest.FixtureRequest
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    tab = Tab(page)
    answer = asyncio.Event()

    async def held(route: Route) -> None:
        await answer.wait()
        await route.continue_()

    await page.route(is_path("/tasks"), held)
    await page.goto(fresh_demo_url + "/")
    status = page.locator("#tasks-status")
    await expect(status).to_have_text("Loading tasks…")
    await expect(page.locator("#feed-empty")).to_be_visible()  # no changes seen yet
    answer.set()
    await expect(status).to_have_text("No tasks yet. Add the first one above.")
    await expect(page.locator("#feed-status")).to_have_text("Live.")
    await screenshot(tab, request, width)

    answer.clear()
    await page.fill("#new-task-title", "Water the plants")
    await page.press("#new-task-title", "Enter")
    await expect(status).to_have_text("Saving…")
    await expect(page.locator("#new-task button[type=submit]")).to_have_text("Adding…")
    answer.set()
    await expect(page.locator("#tasks li .title")).to_have_text(["Water the plants"])
    await expect(status).to_be_hidden()
    await expect(page.locator("#new-task button[type=submit]")).to_have_text("Add")
    await expect(page.locator("#feed-empty")).to_be_hidden()
    assert tab.errors == []


async def test_a_stopped_server_is_said_plainly_and_everything_recovers_when_it_is_back(
    browser: Browser, tmp_path: Path, width: int, request: pytest.FixtureRequest
) -> None:
    port = free_port()
    env = repo_env(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}",
            "REDIS_URL": "",
            "CHAT_JWT_SECRET": "",
        }
    )
    command = server_command("uvicorn", "examples.demo.app:app", port)
    url = f"http://127.0.0.1:{port}"
    with run_process(command, port, "the demo", env=env) as process:
        tab = await open_tab(browser, url, width)
        page = tab.page
        await page.fill("#chat-user", "alice")
        await page.click("#join button[type=submit]")
        await expect(page.locator("#chat-status")).to_have_text("Connected to lobby as alice.")

        os.killpg(process.pid, signal.SIGKILL)  # the server is gone, mid-session
        process.wait(10)

        feed_status = page.locator("#feed-status")
        await expect(feed_status).to_contain_text("Reconnecting")
        await expect(feed_status).not_to_have_text("Live.")
        await expect(page.locator("#chat-status")).to_contain_text(
            "Lost the connection to the chat. Reconnecting in"
        )
        await expect(page.locator("#say")).to_be_visible()  # joined: it stays, but
        await expect(page.locator("#say button[type=submit]")).to_be_disabled()
        await expect(page.locator("#say-hint")).to_have_text(
            "Not connected: you can send again once the chat reconnects."
        )
        await page.fill("#new-task-title", "Written while the server was down")
        await page.press("#new-task-title", "Enter")
        error = page.locator("#tasks-error")
        await expect(error).to_contain_text(
            "Could not add the task: the server cannot be reached (is it running? are you online?)."
        )
        await expect(error.get_by_role("button", name="Retry")).to_be_visible()
        assert "Failed to fetch" not in await page.inner_text("body")
        await screenshot(tab, request, width)

        with run_process(command, port, "the demo, restarted", env=env):
            await error.get_by_role("button", name="Retry").click()
            await expect(error).to_be_hidden()
            title = page.locator("#tasks li .title", has_text="Written while the server was down")
            await expect(title).to_have_count(1)
            await expect(feed_status).to_have_text("Live.", timeout=SLOW_MS)
            await expect(page.locator("#chat-status")).to_have_text(
                "Connected to lobby as alice.", timeout=SLOW_MS
            )
            await expect(
                page.locator("#chat-log li.system", has_text="Reconnected.")
            ).to_have_count(1)
            await expect(page.locator("#say button[type=submit]")).to_be_enabled()
            await expect(page.locator("#say-hint")).to_be_hidden()
    assert tab.exceptions == []


async def test_a_503_feed_and_a_1013_chat_are_retried_with_backoff(
    browser: Browser, demo_url: str, width: int
) -> None:
    """What the page sees while Redis is down: GET /feed answers 503 and the chat closes with
    1013 after accepting (both tested against a real Redis in test_broadcast_faults.py); a plain
    EventSource would give up for good on the 503."""
    context = await browser.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    tab = Tab(page)
    redis_down = True
    feed_tries = 0
    chat_tries = 0

    async def feed(route: Route) -> None:
        nonlocal feed_tries
        feed_tries += 1
        if redis_down:
            await route.fulfill(status=503, json={"error": "the feed is unavailable"})
        else:
            await route.continue_()

    async def chat(socket: WebSocketRoute) -> None:
        nonlocal chat_tries
        chat_tries += 1
        if redis_down:
            await socket.close(code=1013, reason="chat unavailable, reconnect later")
        else:
            socket.connect_to_server()

    await page.route(is_path("/feed"), feed)
    await page.route_web_socket(lambda url: urlsplit(url).path.startswith("/chat/"), chat)
    await page.goto(demo_url + "/")
    await page.fill("#chat-user", "bob")
    await page.click("#join button[type=submit]")
    await expect(page.locator("#chat-status")).to_contain_text(
        "The chat is unavailable for now (chat unavailable, reconnect later). Reconnecting in"
    )
    await expect(page.locator("#feed-status")).to_contain_text("Reconnecting in")
    await expect(page.locator("#tasks-error")).to_be_hidden()  # the tasks API still answers
    await expect(page.locator("#tasks-status")).not_to_have_text("Loading tasks…")  # listed
    # Tried again, and again: the failures do not end the retries.
    await eventually(lambda: feed_tries >= 3 and chat_tries >= 3)
    # Backoff, not a tight loop: three tries take at least 0.4 + 0.8 s.
    assert feed_tries < 10
    assert chat_tries < 10

    redis_down = False
    await expect(page.locator("#feed-status")).to_have_text("Live.", timeout=SLOW_MS)
    await expect(page.locator("#chat-status")).to_have_text(
        "Connected to lobby as bob.", timeout=SLOW_MS
    )
    assert tab.exceptions == []


async def test_the_chat_uses_the_servers_name_and_shows_its_form_only_once_joined(
    browser: Browser, demo_url: str, width: int
) -> None:
    tab = await open_tab(browser, demo_url, width)
    page = tab.page
    say = page.locator("#say")
    await expect(say).to_be_hidden()
    assert await say.evaluate("form => getComputedStyle(form).display") == "none"
    await page.fill("#chat-user", "\u200b\u200b")  # invisible: the server says "anonymous"
    await page.fill("#chat-room", "names")
    await page.click("#join button[type=submit]")
    await expect(page.locator("#chat-status")).to_have_text("Connected to names as anonymous.")
    await expect(page.locator("#chat-log li", has_text="anonymous joined")).to_have_count(1)
    await expect(say).to_be_visible()
    await expect(page.locator("#say button[type=submit]")).to_be_enabled()
    await expect(page.locator("#say-hint")).to_be_hidden()
    assert tab.errors == []


async def test_a_refused_chat_gives_the_servers_reason(
    browser: Browser, jwt_demo_url: str, width: int, request: pytest.FixtureRequest
) -> None:
    tab = await open_tab(browser, jwt_demo_url, width)
    page = tab.page
    await page.fill("#chat-user", "mallory")
    await page.click("#join button[type=submit]")
    status = page.locator("#chat-status")
    await expect(status).to_have_text(
        "The server refused to let you join: a valid ?token= is required to join the chat."
    )
    await expect(page.locator("#say")).to_be_hidden()
    await screenshot(tab, request, width)
    # The expected 401 of the admission check is the only console error.
    assert [e for e in tab.errors if "401" not in e] == []

    token = ChatTokens(SECRET).issue("carol")
    signed_in = await open_tab(browser, jwt_demo_url, width, path=f"/?token={token}")
    await signed_in.page.fill("#chat-user", "anyone")  # the token names the user
    await signed_in.page.click("#join button[type=submit]")
    await expect(signed_in.page.locator("#chat-status")).to_have_text(
        "Connected to lobby as carol."
    )
    assert signed_in.errors == []


async def test_the_feed_is_oldest_first_with_times_and_the_newest_in_view(
    browser: Browser, demo_url: str, width: int
) -> None:
    tab = await open_tab(browser, demo_url, width)
    prefix = f"Feed order {width}"
    async with httpx.AsyncClient(base_url=demo_url, timeout=10) as client:
        for i in range(40):  # more lines than the feed's box shows at once
            created = await client.post("/tasks", json={"title": f"{prefix} #{i}"})
            assert created.status_code == 201
    lines = tab.page.locator("#feed li", has_text=prefix)
    await expect(lines).to_have_count(40)
    texts = await lines.all_inner_texts()
    assert [t.split("created: ")[1] for t in texts] == [f"{prefix} #{i}" for i in range(40)]
    assert await tab.page.locator("#feed li time").count() >= 40
    geometry = await tab.page.evaluate(
        """() => {
            const feed = document.querySelector('#feed');
            const last = feed.lastElementChild.getBoundingClientRect();
            const box = feed.getBoundingClientRect();
            return {scrolls: feed.scrollHeight > feed.clientHeight,
                    lastBottom: last.bottom, boxBottom: box.bottom, boxTop: box.top,
                    lastTop: last.top};
        }"""
    )
    assert geometry["scrolls"], "40 lines should overflow the feed's box (it scrolls)"
    assert geometry["boxTop"] <= geometry["lastTop"]
    assert geometry["lastBottom"] <= geometry["boxBottom"] + 1, "the newest line is out of view"
    assert tab.errors == []


async def test_with_redis_down_the_feed_and_chat_say_so_and_come_back_with_it(
    browser: Browser, tmp_path: Path, width: int
) -> None:
    """The real thing behind the 503 / 1013 above: the demo on Redis, and Redis stopped."""
    with redis_process() as (redis_url, first_redis):
        redis_port = int(urlsplit(redis_url).port or 0)
        env = {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}",
            "REDIS_URL": redis_url,
            "CHAT_JWT_SECRET": "",
        }
        with serve("examples.demo.app:app", env=env) as url:
            tab = await open_tab(browser, url, width)
            page = tab.page
            await page.fill("#chat-user", "dora")
            await page.click("#join button[type=submit]")
            await expect(page.locator("#chat-status")).to_have_text("Connected to lobby as dora.")

            first_redis.terminate()
            first_redis.wait(10)
            await expect(page.locator("#chat-status")).to_contain_text(
                "The chat is unavailable for now (chat unavailable, reconnect later)."
            )
            await expect(page.locator("#say button[type=submit]")).to_be_disabled()
            await expect(page.locator("#feed-status")).to_contain_text("Reconnecting in")

            with redis_process(redis_port):  # Redis is back, on the same address
                await expect(page.locator("#feed-status")).to_have_text("Live.", timeout=SLOW_MS)
                await expect(page.locator("#chat-status")).to_have_text(
                    "Connected to lobby as dora.", timeout=SLOW_MS
                )
                await expect(page.locator("#say button[type=submit]")).to_be_enabled()
    assert tab.exceptions == []
