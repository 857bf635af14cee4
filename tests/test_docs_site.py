"""The docs site builds in strict mode, and no page or README link points at a missing file.

``properdocs build --strict`` (properdocs.yml) fails on any warning: a broken link or anchor, a
page left out of the navigation, a reference the API pages cannot resolve. The link check below
runs without the docs tools, so a README link to a file that is not in the repository fails
even where the site is not built.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .support.servers import IN_CI, REPO

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\((?P<target>[^)\s]+)\)")
NOT_A_FILE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)", re.IGNORECASE)


def linking_pages() -> list[Path]:
    return [REPO / "README.md", REPO / "SECURITY.md", *sorted((REPO / "docs").rglob("*.md"))]


def relative_links(page: Path) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return [
        found["target"] for found in LINK.finditer(text) if not NOT_A_FILE.match(found["target"])
    ]


def test_the_link_check_sees_links() -> None:
    # A broken pattern would make the next test pass on nothing.
    assert "docs/tutorial.md" in relative_links(REPO / "README.md")
    assert "../SECURITY.md" in relative_links(REPO / "docs" / "design.md")


@pytest.mark.parametrize("page", linking_pages(), ids=lambda page: page.name)
def test_every_relative_link_points_at_a_file_in_the_repository(page: Path) -> None:
    missing = []
    for target in relative_links(page):
        path = target.partition("#")[0]
        if path and not (page.parent / path).resolve().exists():
            missing.append(target)
    assert missing == [], f"{page.relative_to(REPO)} links to files that do not exist: {missing}"


def properdocs_or_skip() -> None:
    if importlib.util.find_spec("properdocs") is None:
        message = "properdocs is not installed: pip install -e '.[docs]' (the dev extra has it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_the_site_builds_in_strict_mode_without_a_warning(tmp_path: Path) -> None:
    properdocs_or_skip()
    site = tmp_path / "site"
    command = [sys.executable, "-m", "properdocs", "build", "--strict", "-f", "properdocs.yml"]
    done = subprocess.run(
        [*command, "-d", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output, output
    # The pages exist, and the reference was generated from the docstrings.
    assert (site / "tutorial" / "index.html").is_file()
    assert (site / "comparison" / "index.html").is_file()
    reference = (site / "reference" / "routing" / "index.html").read_text(encoding="utf-8")
    assert 'id="aaf.routing.Router.add_route"' in reference
    security = (site / "security" / "index.html").read_text(encoding="utf-8")
    assert "Threat model" in security  # SECURITY.md, included


def public_modules() -> set[str]:
    found = set()
    for path in (REPO / "src" / "aaf").rglob("*.py"):
        parts = list(path.relative_to(REPO / "src").with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not any(part.startswith("_") for part in parts):
            found.add(".".join(parts))
    return found


def test_every_public_module_is_on_a_reference_page() -> None:
    documented: set[str] = set()
    for page in (REPO / "docs" / "reference").glob("*.md"):
        documented |= set(re.findall(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M))
    assert "aaf.routing" in documented
    missing = sorted(public_modules() - documented)
    assert missing == [], f"add `::: <module>` lines for {missing} to a page of docs/reference/"


# ---------------------------------------------------------------- the site's link hook
def load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("site_hooks", REPO / "docs" / "site_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("markdown", "source_dir", "page_dir", "expected"),
    [
        ("[policy](../SECURITY.md)", "docs", "", "[policy](security.md)"),
        (
            "[policy](../../SECURITY.md#reporting)",
            "docs/howto",
            "howto",
            "[policy](../security.md#reporting)",
        ),
        ("[limits](docs/limits.md)", "", "", "[limits](limits.md)"),
        ("[limits](docs/limits.md)", "", "howto", "[limits](../limits.md)"),
        ("[echo](../examples/raw/echo.py)", "docs", "", "echo (`examples/raw/echo.py`)"),
        (
            "[x](https://example.com/a.md) [y](#top)",
            "docs",
            "",
            "[x](https://example.com/a.md) [y](#top)",
        ),
        ("[gone](../no-such-file.md)", "docs", "", "[gone](../no-such-file.md)"),
    ],
)
def test_links_that_leave_docs_are_rewritten_for_the_site(
    markdown: str, source_dir: str, page_dir: str, expected: str
) -> None:
    assert load_hooks()._rebase(markdown, source_dir, page_dir, REPO) == expected
