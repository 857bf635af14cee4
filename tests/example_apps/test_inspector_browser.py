"""The inspector's page in headless Chromium: requests made elsewhere appear live, and a click
shows one's timeline (Debian's ``chromium`` driven by Playwright, as test_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..support.browser import TIMEOUT_MS, require_playwright
from ..support.servers import serve
from .test_browser import Tab

require_playwright()

from playwright.async_api import Browser, expect  # noqa: E402 - after the check above

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    with serve("tests.support.inspector_app:app") as url:
        yield url


async def test_requests_appear_live_and_a_click_shows_the_timeline(
    browser: Browser, app_url: str
) -> None:
    inspector_context = await browser.new_context()
    inspector_context.set_default_timeout(TIMEOUT_MS)
    inspector = Tab(await inspector_context.new_page())
    await inspector.page.goto(app_url + "/_aaf/")
    await expect(inspector.page.locator("#status")).to_have_text("Live.")
    await expect(inspector.page.locator("#routes li", has_text="/items/")).to_have_count(1)

    visitor_context = await browser.new_context()
    visitor = await visitor_context.new_page()
    await visitor.goto(app_url + "/items/42")
    await expect(visitor.locator("body")).to_contain_text('"id":42')

    row = inspector.page.locator("#connections tbody tr", has_text="/items/42")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("/items/<int:item_id>")
    await expect(row).to_contain_text("200")
    await row.click()
    await expect(inspector.page.locator("#detail-title")).to_contain_text("GET /items/42")
    timeline = inspector.page.locator("#timeline li")
    await expect(timeline.filter(has_text="http.response.start")).to_have_count(1)
    await expect(timeline.filter(has_text='{\\"id\\":42}')).to_have_count(1)
    # The inspector's own requests (page, script, API, events) are not listed.
    await expect(inspector.page.locator("#connections tbody tr", has_text="/_aaf")).to_have_count(0)
    assert inspector.errors == []
