"""The docs UI in headless Chromium (Debian's ``chromium`` driven by Playwright), with every
request that leaves the loopback address refused: the page must load from the app alone, list
the operations, and "Try it out" -> "Execute" must reach the app and show its answer."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from aaf._docs_ui_assets import package_dir

from .support.browser import require_playwright
from .support.servers import IN_CI, serve

require_playwright()

from playwright.async_api import Browser, Page, Route, expect  # noqa: E402 - after the check

pytestmark = pytest.mark.integration

UI_TIMEOUT_MS = 15_000  # Swagger UI is a large bundle to parse on a loaded machine
OPERATION_IDS = ("create_task", "list_tasks", "get_task", "update_task", "delete_task", "echo")


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    if package_dir("swagger_ui_bundle") is None:
        message = "swagger-ui-bundle-v2 is not installed (aaf's docs-ui extra)"
        if IN_CI:
            pytest.fail(f"{message}; it is in the test extra")
        pytest.skip(message)
    with serve("tests.support.openapi_app:app") as url:
        yield url


class OfflineTab:
    """A tab whose requests may only go to 127.0.0.1; the others are refused and recorded."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.refused: list[str] = []
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def only_loopback(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1" or url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            self.refused.append(url)
            await route.abort()


async def open_offline(browser: Browser, url: str) -> OfflineTab:
    context = await browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    tab = OfflineTab(await context.new_page())
    await context.route("**/*", tab.only_loopback)
    await tab.page.goto(url)
    return tab


async def test_swagger_ui_lists_the_operations_with_no_network(
    browser: Browser, app_url: str
) -> None:
    tab = await open_offline(browser, app_url + "/docs")
    page = tab.page
    await expect(page.locator(".info .title")).to_contain_text("Typed tasks", timeout=UI_TIMEOUT_MS)
    for operation_id in OPERATION_IDS:
        block = page.locator(f'[id^="operations-"][id$="-{operation_id}"]').first
        await expect(block).to_be_visible(timeout=UI_TIMEOUT_MS)
    await expect(page.locator("#operations-tasks-create_task")).to_contain_text("Create a task.")
    assert tab.refused == []  # nothing was even asked of the network
    assert tab.errors == []


async def test_try_it_out_reaches_the_app(browser: Browser, app_url: str) -> None:
    async with httpx.AsyncClient(base_url=app_url, timeout=10) as client:
        created = await client.post("/tasks", json={"title": "shown in swagger", "priority": 2})
    assert created.status_code == 201
    task_id = created.json()["id"]

    tab = await open_offline(browser, app_url + "/docs")
    page = tab.page
    block = page.locator("#operations-tasks-get_task")
    await block.locator(".opblock-summary").click()
    await block.locator(".try-out__btn").click()
    await block.locator('input[placeholder="task_id"]').fill(str(task_id))
    await block.locator(".execute").click()
    live = block.locator(".live-responses-table")
    await expect(live.locator("tbody .response-col_status")).to_have_text("200")
    await expect(live.locator("tbody .response-col_description")).to_contain_text(
        "shown in swagger"
    )

    # And an unknown task: the problem details the app answered with are shown.
    await block.locator('input[placeholder="task_id"]').fill("987654321")
    await block.locator(".execute").click()
    await expect(live.locator("tbody .response-col_status")).to_have_text("404")
    await expect(live.locator("tbody .response-col_description")).to_contain_text(
        "no task 987654321"
    )
    assert tab.refused == []
    assert tab.errors == []
