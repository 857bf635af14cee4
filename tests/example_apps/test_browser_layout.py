"""The demo page's layout, accessibility and links, at a phone's and a desktop's width, from
element boxes and computed styles in headless Chromium (as test_browser.py). Screenshots go to
test-artifacts/screenshots/<test>-<width>.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ..support.browser import require_playwright
from ..support.servers import serve
from . import test_browser as shared
from .test_browser import PROBED_PATHS, Tab, open_tab, screenshot

require_playwright()

from playwright.async_api import Browser, Page, Route, expect  # noqa: E402

pytestmark = pytest.mark.integration

# The shared fixtures, by name (pytest looks fixtures up among a module's attributes).
demo_url = shared.demo_url
fresh_demo_url = shared.fresh_demo_url
width = shared.width

LONG_WORD = "Supercalifragilistic" * 15  # 300 characters, no break opportunity
LONG_SENTENCE = " ".join(["a rather long title that should wrap at word boundaries"] * 3)
AA_TEXT_CONTRAST = 4.5

BOXES = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
            width: r.width, height: r.height};
  };
  const q = (selector) => document.querySelector(selector);
  const controls = (selector) =>
    [...q(selector).querySelectorAll('input, button')].filter((el) => el.offsetParent).map(box);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    tasksCard: box(q('#tasks-section')),
    chatCard: box(q('#chat-section')),
    rows: [...document.querySelectorAll('#tasks li')].map((li) => ({
      title: box(li.querySelector('.title')),
      checkbox: box(li.querySelector('input')),
      button: box(li.querySelector('button')),
    })),
    chatLines: [...document.querySelectorAll('#chat-log li')].map(box),
    fields: [...document.querySelectorAll('.field')].filter((f) => f.offsetParent).map((f) => ({
      name: f.querySelector('label').textContent,
      label: box(f.querySelector('label')),
      input: box(f.querySelector('input')),
    })),
    forms: ['#new-task', '#join', '#say'].map(controls),
  };
}"""

# Each element's text colour and the first opaque background behind it.
COLOURS = """(selectors) => selectors.map((selector) => {
  const el = document.querySelector(selector);
  let back = el;
  let background = 'rgb(255, 255, 255)';
  while (back) {
    const colour = getComputedStyle(back).backgroundColor;
    const alpha = colour.startsWith('rgba') ? parseFloat(colour.split(',')[3]) : 1;
    if (alpha > 0) { background = colour; break; }
    back = back.parentElement;
  }
  return [selector, getComputedStyle(el).color, background];
})"""


@pytest.fixture(scope="module")
def debug_demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo in development mode (DEMO_DEBUG=1): the inspector is mounted at /_aaf/."""
    database = tmp_path_factory.mktemp("debug") / "tasks.db"
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "REDIS_URL": "",
        "CHAT_JWT_SECRET": "",
        "DEMO_DEBUG": "1",
    }
    with serve("examples.demo.app:app", env=env) as url:
        yield url


def same_row(one: dict[str, float], two: dict[str, float]) -> bool:
    return one["top"] < two["bottom"] and two["top"] < one["bottom"]


def middle(box: dict[str, float]) -> float:
    return box["top"] + box["height"] / 2


async def test_the_layout_holds_with_long_titles_many_tasks_and_long_messages(
    browser: Browser, fresh_demo_url: str, width: int, request: pytest.FixtureRequest
) -> None:
    titles = [LONG_WORD, LONG_SENTENCE] + [f"Task number {i}" for i in range(30)]
    async with httpx.AsyncClient(base_url=fresh_demo_url, timeout=10) as client:
        for title in titles:
            assert (await client.post("/tasks", json={"title": title})).status_code == 201
    tab = await open_tab(browser, fresh_demo_url, width)
    page = tab.page
    await expect(page.locator("#tasks li")).to_have_count(len(titles))
    await page.fill("#chat-user", "wordy")
    await page.click("#join button[type=submit]")
    await expect(page.locator("#chat-status")).to_have_text("Connected to lobby as wordy.")
    for message in ("x" * 1500, LONG_SENTENCE * 4):
        await page.fill("#chat-message", message)
        await page.press("#chat-message", "Enter")
    await expect(page.locator("#chat-log li", has_text="wordy: ")).to_have_count(2)
    await screenshot(tab, request, width)

    boxes: dict[str, Any] = await page.evaluate(BOXES)
    assert boxes["scrollWidth"] <= boxes["viewport"], "the page scrolls sideways"
    card = boxes["tasksCard"]
    for row in boxes["rows"]:
        assert row["title"]["width"] >= card["width"] / 2, "a title is squeezed"
        assert row["title"]["right"] <= card["right"], "a title overflows its card"
        assert row["button"]["right"] <= card["right"], "Delete overflows the card"
        assert 12 <= row["checkbox"]["width"] <= 24, "the checkbox is stretched"
        assert 12 <= row["checkbox"]["height"] <= 24, "the checkbox is stretched"
        assert abs(middle(row["checkbox"]) - middle(row["button"])) <= 1
    for line in boxes["chatLines"]:
        assert line["right"] <= boxes["chatCard"]["right"], "a chat line overflows its card"
    for field in boxes["fields"]:  # New task, Name, Room, Message
        label, field_input = field["label"], field["input"]
        assert label["right"] <= field_input["left"], f"{field['name']}: not beside its input"
        assert field_input["top"] <= middle(label) <= field_input["bottom"], field["name"]
    for controls in boxes["forms"]:  # side by side, the same height and centred on one line
        for one in controls:
            for two in controls:
                if same_row(one, two):
                    assert abs(one["height"] - two["height"]) <= 1
                    assert abs(middle(one) - middle(two)) <= 1
    name, room = (f["input"] for f in boxes["fields"] if f["name"] in ("Name", "Room"))
    if not same_row(name, room):
        assert abs(name["left"] - room["left"]) <= 1, "Name and Room inputs not aligned"
    assert tab.errors == []


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two CSS rgb()/rgba() colours."""

    def luminance(colour: str) -> float:
        red, green, blue = (int(part) / 255 for part in re.findall(r"[\d.]+", colour)[:3])

        def channel(value: float) -> float:
            return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula() -> None:
    assert contrast("rgb(0, 0, 0)", "rgb(255, 255, 255)") == pytest.approx(21)
    assert contrast("rgb(119, 119, 119)", "rgb(255, 255, 255)") == pytest.approx(4.48, abs=0.01)


async def focused(page: Page) -> str:
    """What has keyboard focus: its id, or its text."""
    name: str = await page.evaluate(
        "() => document.activeElement.id || document.activeElement.textContent.trim()"
    )
    return name


async def assert_focus_visible(page: Page) -> None:
    outline = await page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none"
    assert outline[1] >= 2


async def test_keyboard_only_use_labels_live_regions_and_contrast(
    browser: Browser, fresh_demo_url: str, width: int
) -> None:
    async with httpx.AsyncClient(base_url=fresh_demo_url, timeout=10) as client:
        created = await client.post("/tasks", json={"title": "Already done", "done": True})
        assert created.status_code == 201
    tab = await open_tab(browser, fresh_demo_url, width)
    page = tab.page
    await expect(page.locator("#tasks li.done")).to_have_count(1)

    # Labels tied to their inputs; the chat and the feed are announced politely.
    for label, selector in [
        ("New task", "#new-task-title"),
        ("Name", "#chat-user"),
        ("Room", "#chat-room"),
        ("Message", "#chat-message"),
        ("done: Already done", "li.done input"),
    ]:
        assert await page.get_by_label(label, exact=True).evaluate(
            "(el, selector) => el === document.querySelector(selector)", selector
        ), label
    for region in ("#chat-log", "#feed"):
        await expect(page.locator(region)).to_have_attribute("aria-live", "polite")
    for status in ("#tasks-status", "#chat-status", "#feed-status"):
        await expect(page.locator(status)).to_have_attribute("role", "status")

    # Keyboard only: Tab walks the controls in reading order, Enter submits, Space ticks.
    await page.keyboard.press("Tab")  # the header's link to the API docs the demo serves
    assert await focused(page) == "docs-link"
    await page.keyboard.press("Tab")
    assert await focused(page) == "new-task-title"
    await assert_focus_visible(page)
    await page.keyboard.type("Typed, not clicked")
    await page.keyboard.press("Enter")
    await expect(page.locator("#tasks li .title", has_text="Typed, not clicked")).to_have_count(1)
    await expect(page.locator("#new-task-title")).to_have_value("")
    assert await focused(page) == "new-task-title"
    order = []
    for _ in range(8):
        await page.keyboard.press("Tab")
        order.append(await focused(page))
    assert order == ["Add", "", "Delete", "", "Delete", "chat-user", "chat-room", "Join"]
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    assert await focused(page) == "Delete"
    await page.keyboard.press("Shift+Tab")  # the new task's checkbox
    await assert_focus_visible(page)
    await page.keyboard.press("Space")
    await expect(page.locator("#tasks li.done")).to_have_count(2)
    await page.focus("#chat-user")
    await page.keyboard.type("kim")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")  # in the Room field: joins
    await expect(page.locator("#chat-status")).to_have_text("Connected to lobby as kim.")
    await page.keyboard.press("Tab")  # to Join
    await assert_focus_visible(page)
    await page.keyboard.press("Tab")
    assert await focused(page) == "chat-message"
    await page.keyboard.type("typed hello")
    await page.keyboard.press("Enter")
    await expect(page.locator("#chat-log li", has_text="kim: typed hello")).to_have_count(1)

    # WCAG AA: 4.5:1 for the text of every kind on the page.
    pairs = await page.evaluate(
        COLOURS,
        [
            "h1",
            "header p",
            "#docs-link",
            "#tasks li .title",
            "#tasks li.done .title",
            "#tasks-error .message",
            "#chat-status",
            "#chat-log li.system",
            "#feed-status",
            "#feed li time",
            "#new-task-title",
            "#new-task button[type=submit]",
            "#tasks li button",
            "#tasks-error .retry",
        ],
    )
    low = [(s, fg, bg, round(contrast(fg, bg), 2)) for s, fg, bg in pairs]
    assert [entry for entry in low if entry[3] < AA_TEXT_CONTRAST] == []
    assert tab.errors == []


async def test_the_api_docs_link_shows_only_when_the_server_has_them(
    browser: Browser, demo_url: str, width: int
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 800})
    page = await context.new_page()
    tab = Tab(page)
    link = page.get_by_role("link", name="API docs")
    docs = {"status": 404}  # what the routed GET /docs answers

    async def answer_docs(route: Route) -> None:
        await route.fulfill(status=docs["status"], content_type="text/html", body="<h1>docs</h1>")

    await page.route(lambda url: urlsplit(url).path == "/docs", answer_docs)
    for status, shown in ((404, False), (200, True)):
        docs["status"] = status
        await page.goto(demo_url + "/")
        await expect(page.locator("#docs-link[data-checked]")).to_have_count(1)
        if shown:
            await expect(link).to_be_visible()
        else:
            await expect(link).to_be_hidden()
    await expect(link).to_have_attribute("href", "/docs")

    # The demo as it is (with or without its /docs): the link follows the server's answer.
    await page.unroute_all()
    async with page.expect_response(lambda r: r.url.endswith(PROBED_PATHS[0])) as answer:
        await page.goto(demo_url + "/")
    await expect(page.locator("#docs-link[data-checked]")).to_have_count(1)
    if (await answer.value).ok:
        await expect(link).to_be_visible()
    else:
        await expect(link).to_be_hidden()
    await expect(page.locator("#inspector-link[data-checked]")).to_have_count(1)
    await expect(page.locator("#inspector-link")).to_be_hidden()  # not in development
    assert tab.errors == []


async def test_in_development_the_page_links_the_inspector(
    browser: Browser, debug_demo_url: str, width: int, request: pytest.FixtureRequest
) -> None:
    tab = await open_tab(browser, debug_demo_url, width)
    link = tab.page.get_by_role("link", name="Inspector (development)")
    await expect(link).to_be_visible()
    await screenshot(tab, request, width)
    await link.click()
    await expect(tab.page).to_have_url(re.compile(r"/_aaf/$"))
    await expect(tab.page.locator("#status")).to_have_text("Live.")
    assert tab.errors == []
