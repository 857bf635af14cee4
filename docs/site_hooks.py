"""ProperDocs/MkDocs hooks for the docs site (properdocs.yml ``hooks:``); not a page of the site.

The pages are written to read well on a repository browser too, so they link to files outside
``docs/`` (``../SECURITY.md``, ``../examples/raw/echo.py``). The site has only ``docs/``, so:

- ``<!-- include: PATH -->`` on a page is replaced by that repository file (docs/security.md
  shows SECURITY.md), its links rebased from the file's folder to the page's;
- a link that leaves ``docs/`` goes to the page that mirrors its target (``MIRRORS``), or,
  for any other repository file, becomes the file's path in code, without a dead link.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

#: Repository files shown as a page of the site: links to them go to that page.
MIRRORS = {"SECURITY.md": "security.md", "README.md": "index.md"}
INCLUDE = re.compile(r"^<!-- include: (?P<path>[\w./-]+) -->$", re.MULTILINE)
# An inline link or image; the target has no spaces (every link in these pages is relative
# or a URL, never a path with a title).
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]\n]*)\]\((?P<target>[^)\s]+)\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|/|#)", re.IGNORECASE)


def _rebase(markdown: str, source_dir: str, page_dir: str, repo: Path) -> str:
    """Rewrite relative links written from ``source_dir`` (repository-relative, posix) so they
    work from the page in ``page_dir`` (relative to docs/)."""

    def replace(found: re.Match[str]) -> str:
        target = found["target"]
        if EXTERNAL.match(target):
            return found[0]
        path, _, anchor = target.partition("#")
        in_repo = posixpath.normpath(posixpath.join(source_dir, path))
        if in_repo.startswith("docs/"):
            new = posixpath.relpath(in_repo.removeprefix("docs/"), page_dir or ".")
        elif in_repo in MIRRORS:
            new = posixpath.relpath(MIRRORS[in_repo], page_dir or ".")
        elif (repo / in_repo).exists():
            # Not on the site: name the file instead of linking to nothing.
            return f"{found['text']} (`{in_repo}`)" if found["text"] != in_repo else f"`{in_repo}`"
        else:
            return found[0]  # left as written: the link validation reports it
        return f"{found['bang']}[{found['text']}]({new}{'#' + anchor if anchor else ''})"

    return LINK.sub(replace, markdown)


def on_page_markdown(markdown: str, *, page: Any, config: Any, files: Any) -> str:
    repo = Path(config["config_file_path"]).resolve().parent
    page_dir = posixpath.dirname(page.file.src_uri)

    def include(found: re.Match[str]) -> str:
        path = found["path"]
        text = (repo / path).read_text(encoding="utf-8")
        return _rebase(text, posixpath.dirname(path), page_dir, repo)

    markdown = INCLUDE.sub(include, markdown)
    return _rebase(markdown, posixpath.join("docs", page_dir), page_dir, repo)
