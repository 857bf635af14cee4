"""The AsyncAPI page in headless Chromium, served by uvicorn: it shows the channels,
operations and messages, and loads nothing from the network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.browser import TIMEOUT_MS, require_playwright
from tests.support.servers import serve

require_playwright()

from playwright.async_api import Browser, Request, expect  # noqa: E402 - after the check

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve("tests.support.typed_ws_app:app") as url:
        yield url


async def test_the_page_shows_the_document_offline(browser: Browser, base_url: str) -> None:
    context = await browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    requested: list[str] = []
    problems: list[str] = []

    def note(request: Request) -> None:
        requested.append(request.url)

    page.on("request", note)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    await page.goto(base_url + "/asyncapi")

    await expect(page.locator("h1")).to_have_text("Chat")
    channel = page.locator("#channel-chat")
    await expect(channel.locator("h3")).to_have_text("/chat/{room}/{seat}")
    await expect(channel.locator("li", has_text="seat")).to_contain_text("non-negative integer")
    receive = page.locator('[id="operation-chat.receive"]')
    await expect(receive.locator(".action")).to_have_text("receive")
    await expect(receive.locator("a")).to_have_text(["ChatIn", "Typing"])
    await expect(page.locator('[id="operation-chat.send"] a')).to_have_text(["ChatOut", "Presence"])
    await expect(page.locator(".message h3")).to_have_text(
        ["ChatIn", "Typing", "ChatOut", "Presence"]
    )
    await expect(page.locator("#schema-ChatIn pre")).to_contain_text('"maxLength": 500')
    # The link to a message jumps to it; the page is whole without a single other request.
    await receive.locator("a", has_text="Typing").click()
    assert page.url.endswith("#message-Typing")
    await expect(page.locator("#message-Typing")).to_be_in_viewport()
    assert requested == [base_url + "/asyncapi"]
    assert problems == []
    await context.close()
