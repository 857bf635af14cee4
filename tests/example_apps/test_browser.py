"""The demo page end to end in headless Chromium (Debian's ``chromium``, driven by Playwright).

Playwright only drives the system browser here (tests/support/browser.py; the ``browser``
fixture is in tests/conftest.py). The demo runs under a real uvicorn on a SQLite file, with the
in-memory broadcast.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..support.browser import TIMEOUT_MS, require_playwright
from ..support.servers import REPO, serve

require_playwright()

from playwright.async_api import (  # noqa: E402 - after the check that skips without it
    Browser,
    ConsoleMessage,
    Error,
    Page,
    expect,
)

pytestmark = pytest.mark.integration

WIDTHS = (375, 1280)  # a phone and a desktop
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("browser") / "tasks.db"
    env = {"DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": "", "CHAT_JWT_SECRET": ""}
    with serve("examples.demo.app:app", env=env) as url:
        yield url


@pytest.fixture
def fresh_demo_url(tmp_path: Path) -> Iterator[str]:
    """A demo of its own for one test: an empty database, so the test knows every task."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'tasks.db'}", "REDIS_URL": ""}
    with serve("examples.demo.app:app", env={**env, "CHAT_JWT_SECRET": ""}) as url:
        yield url


@pytest.fixture(params=WIDTHS, ids=[f"{width}px" for width in WIDTHS])
def width(request: pytest.FixtureRequest) -> int:
    """A phone's and a desktop's window width, in CSS pixels."""
    value: int = request.param
    return value


async def screenshot(tab: Tab, request: pytest.FixtureRequest, width: int) -> None:
    """The whole page, kept as a CI artefact: test-artifacts/screenshots/<test>-<width>.png."""
    name = request.node.name.partition("[")[0]  # the test's name, without its parameters
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await tab.page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


# The page asks for these to decide whether to show their links: a 404 there is expected (and
# Chromium logs every failed load on the console).
PROBED_PATHS = ("/docs", "/_aaf/api/app")


class Tab:
    """One browser tab on the demo page, with the errors its scripts reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.exceptions: list[str] = []  # uncaught in the page's scripts (also in errors)
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)

    def _on_page_error(self, error: Error) -> None:
        self.errors.append(str(error))
        self.exceptions.append(str(error))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if "404" in message.text and url.endswith(PROBED_PATHS):
            return
        self.errors.append(message.text)


async def open_tab(browser: Browser, url: str, width: int = 1280, path: str = "/") -> Tab:
    """The page at ``url + path`` in a new window ``width`` CSS pixels wide, its feed live."""
    context = await browser.new_context(viewport={"width": width, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(await context.new_page())
    await tab.page.goto(url + path)
    # "Live." once the feed's response arrived: the server subscribed before answering.
    await expect(tab.page.locator("#feed-status")).to_have_text("Live.")
    return tab


async def api_titles(url: str, **params: str) -> list[str]:
    """Every matching title, page by page (the demo's database is shared by this module)."""
    titles: list[str] = []
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        while True:
            extra = {} if cursor is None else {"cursor": cursor}
            response = await client.get("/tasks", params={**params, **extra, "limit": "200"})
            assert response.status_code == 200
            titles += [task["title"] for task in response.json()["items"]]
            cursor = response.json()["next"]
            if cursor is None:
                return titles


async def add_task(tab: Tab, title: str) -> None:
    await tab.page.fill("#new-task-title", title)
    await tab.page.click("#new-task button[type=submit]")
    await expect(tab.page.locator("#tasks li .title", has_text=title)).to_have_count(1)


async def test_a_task_created_in_the_page_reaches_the_api_and_another_pages_feed(
    browser: Browser, demo_url: str
) -> None:
    one = await open_tab(browser, demo_url)
    two = await open_tab(browser, demo_url)
    title = f"Buy milk {uuid.uuid4().hex[:8]}"
    await add_task(one, title)
    await expect(one.page.locator("#new-task-title")).to_have_value("")
    assert title in await api_titles(demo_url)
    await expect(two.page.locator("#feed li", has_text=f"created: {title}")).to_have_count(1)
    await expect(two.page.locator("#tasks li .title", has_text=title)).to_have_count(1)
    # A page opened later lists it from the API.
    three = await open_tab(browser, demo_url)
    await expect(three.page.locator("#tasks li .title", has_text=title)).to_have_count(1)
    assert one.errors == two.errors == three.errors == []


async def test_toggling_and_deleting_in_the_page(browser: Browser, demo_url: str) -> None:
    one = await open_tab(browser, demo_url)
    two = await open_tab(browser, demo_url)
    title = f"Toggle me {uuid.uuid4().hex[:8]}"
    await add_task(one, title)
    item = one.page.locator("#tasks li", has=one.page.locator(".title", has_text=title))

    await item.locator("input[type=checkbox]").check()
    await expect(item).to_have_class("done")
    assert title in await api_titles(demo_url, done="true")
    await expect(two.page.locator("#feed li", has_text=f"updated: {title} (done)")).to_have_count(1)
    await expect(two.page.locator("#tasks li.done .title", has_text=title)).to_have_count(1)

    await item.locator("input[type=checkbox]").uncheck()
    await expect(item).not_to_have_class("done")
    assert title in await api_titles(demo_url, done="false")

    await item.get_by_role("button", name="Delete").click()
    await expect(one.page.locator("#tasks li .title", has_text=title)).to_have_count(0)
    assert title not in await api_titles(demo_url)
    await expect(two.page.locator("#feed li", has_text=f"deleted: {title}")).to_have_count(1)
    await expect(two.page.locator("#tasks li .title", has_text=title)).to_have_count(0)
    assert one.errors == two.errors == []


async def test_the_page_lists_tasks_beyond_the_first_page(browser: Browser, demo_url: str) -> None:
    prefix = f"Paged {uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=demo_url, timeout=30) as client:
        for i in range(205):  # more than one page of the largest size (200)
            created = await client.post("/tasks", json={"title": f"{prefix} #{i}"})
            assert created.status_code == 201
    tab = await open_tab(browser, demo_url)
    await expect(tab.page.locator("#tasks li .title", has_text=prefix)).to_have_count(205)
    await expect(tab.page.locator("#tasks li .title", has_text=f"{prefix} #204")).to_have_count(1)
    assert tab.errors == []


async def join_chat(tab: Tab, user: str, room: str) -> None:
    await tab.page.fill("#chat-user", user)
    await tab.page.fill("#chat-room", room)
    await tab.page.click("#join button[type=submit]")
    await expect(tab.page.locator("#chat-status")).to_have_text(f"Connected to {room} as {user}.")


async def test_a_chat_message_from_one_page_appears_in_another(
    browser: Browser, demo_url: str
) -> None:
    one = await open_tab(browser, demo_url)
    two = await open_tab(browser, demo_url)
    room = f"room-{uuid.uuid4().hex[:8]}"
    await join_chat(one, "alice", room)
    await join_chat(two, "bob", room)
    log_one = one.page.locator("#chat-log li")
    await expect(log_one.filter(has_text="bob joined (2 here)")).to_have_count(1)

    await two.page.fill("#chat-message", "hello from bob")
    await expect(one.page.locator("#chat-status")).to_have_text("bob is typing…")
    await two.page.click("#say button[type=submit]")
    await expect(log_one.filter(has_text="bob: hello from bob")).to_have_count(1)
    await expect(two.page.locator("#chat-log li", has_text="bob: hello from bob")).to_have_count(1)

    await two.page.close()
    await expect(log_one.filter(has_text="bob left (1 here)")).to_have_count(1)
    assert one.errors == two.errors == []


def test_the_page_has_no_build_step() -> None:
    static = Path(__file__).resolve().parents[2] / "examples" / "web" / "static"
    names = sorted(path.name for path in static.iterdir())
    # Plain files the browser loads as they are: JavaScript modules, one stylesheet.
    assert names == [
        "app.js",
        "chat.js",
        "favicon.svg",
        "feed.js",
        "index.html",
        "shared.js",
        "style.css",
        "tasks.js",
    ]
    assert '<script src="/static/app.js" type="module">' in (static / "index.html").read_text()
