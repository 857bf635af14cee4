"""StaticFiles: serving, html mode, and every way out of the root answering the same 404."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from aaf import Router, aaf
from aaf.staticfiles import StaticFiles
from aaf.testing import TestClient
from tests.conftest import ASGIRecorder, call, http_scope


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """root/ (served) next to secret.txt and outside/ (not served)."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "a b").mkdir()
    (root / "a b" / "index.html").write_text("spaced index")
    (root / "a.txt").write_text("file a")
    (root / "style.css").write_text("body {}")
    (root / "sub" / "b.txt").write_text("file b")
    (root / "sub" / "index.html").write_text("<p>sub index</p>")
    (root / "index.html").write_text("<p>home</p>")
    (root / "%2e%2e").mkdir()  # a directory literally named like an encoded "..".
    (root / "%2e%2e" / "literal.txt").write_text("literal")
    # Names that are legal on POSIX but separators or streams elsewhere: present, yet refused.
    (root / "sub\\..\\a.txt").write_text("backslash name")
    (root / "c:a.txt").write_text("drive-relative name")
    (root / "a\n.txt").write_text("newline name")
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("outside x")
    (root / "link_out").symlink_to(tmp_path / "secret.txt")
    (root / "dir_out").symlink_to(outside)
    (root / "link_in").symlink_to(root / "a.txt")
    # Hidden files and directories: never served unless allow_dotfiles=True.
    (root / ".env").write_text("SECRET=1")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[remote] SECRET")
    (root / ".git" / "index.html").write_text("SECRET index")
    (root / "sub" / ".htpasswd").write_text("admin:SECRET")
    (root / "env_link").symlink_to(root / ".env")  # a plain name leading to a hidden file
    (root / "git_link").symlink_to(root / ".git")
    return root


def mounted(root: Path, **options: Any) -> Any:
    router = Router()
    router.mount("/static", StaticFiles(root, **options), name="static")
    return aaf([router])


def summary(recorder: ASGIRecorder) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    return recorder.status, sorted(recorder.sent[0]["headers"]), recorder.body


async def fetch(app: Any, path: str, method: str = "GET", **extra: Any) -> ASGIRecorder:
    """A request with ``path`` exactly as a server gives it (already percent-decoded)."""
    return await call(app, http_scope(path, method, **extra))


def test_serves_files_under_the_mount(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        response = client.get("/static/a.txt")
        nested = client.get("/static/sub/b.txt")
        css = client.get("/static/style.css")
        head = client.head("/static/a.txt")
    assert response.status_code == 200
    assert response.text == "file a"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert "etag" in response.headers
    assert nested.text == "file b"
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == "6"


def test_ranges_and_conditionals_work_through_static_files(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        etag = client.get("/static/a.txt").headers["etag"]
        assert client.get("/static/a.txt", headers={"if-none-match": etag}).status_code == 304
        ranged = client.get("/static/a.txt", headers={"range": "bytes=0-3"})
    assert ranged.status_code == 206
    assert ranged.content == b"file"


def test_other_methods_are_405(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        response = client.post("/static/a.txt")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_missing_and_directories_without_html_mode(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        for path in ("/static/nope.txt", "/static/sub/", "/static/sub", "/static/", "/static"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.text == "Not Found"


def test_a_file_with_a_trailing_slash_is_not_found(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        assert client.get("/static/a.txt/").status_code == 404


def test_symlinks_inside_the_root_are_followed(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        assert client.get("/static/link_in").text == "file a"


def test_symlinks_out_of_the_root_only_when_enabled(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        assert client.get("/static/link_out").status_code == 404
        assert client.get("/static/dir_out/x.txt").status_code == 404
    with TestClient(mounted(site, follow_symlinks=True)) as client:
        assert client.get("/static/link_out").text == "TOP SECRET"
        assert client.get("/static/dir_out/x.txt").text == "outside x"
        # ...but following links never makes ".." work.
        assert client.get("/static/sub/%2e%2e/%2e%2e/secret.txt").status_code == 404


# Paths as the server hands them over: percent-decoding already done, so "%2e%2e" arrives as
# ".." and "%5c" as a backslash.
TRAVERSALS = [
    "/static/../secret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/../a.txt",  # stays inside, but ".." is refused outright
    "/static/./a.txt",
    "/static/..",
    "/static/..\\secret.txt",
    "/static/sub\\..\\..\\secret.txt",
    "/static/\\..\\secret.txt",
    "/static/a.txt\x00.png",
    "/static/a.txt\x00",
    "/static/a\n.txt",
    "/static/C:/Windows/win.ini",
    "/static/C:\\Windows\\win.ini",
    "/static/c:a.txt",
    "/static/sub\\..\\a.txt",
    "/static/a.txt::$DATA",
    "/static/link_out",
    "/static/dir_out/x.txt",
    "/static/" + "a/" * 70 + "x",
    "/static/" + "a" * 5000,
    "/static/.env",
    "/static/.git/config",
    "/static/.git/",
    "/static/.git",
    "/static/sub/.htpasswd",
    "/static/env_link",
    "/static/git_link/config",
]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_every_refusal_is_the_same_404(site: Path, path: str) -> None:
    app = mounted(site)
    baseline = await fetch(app, "/static/does-not-exist.txt")
    refused = await fetch(app, path)
    assert summary(refused) == summary(baseline)
    assert b"SECRET" not in refused.body


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_every_refusal_is_the_same_404_page_in_html_mode(site: Path, path: str) -> None:
    (site / "404.html").write_text("<h1>lost</h1>")
    app = mounted(site, html=True)
    baseline = await fetch(app, "/static/does-not-exist.txt")
    refused = await fetch(app, path)
    assert baseline.status == 404
    assert baseline.body == b"<h1>lost</h1>"
    assert summary(refused) == summary(baseline)


def test_dotfiles_only_when_allowed(site: Path) -> None:
    with TestClient(mounted(site, allow_dotfiles=True, html=True)) as client:
        assert client.get("/static/.env").text == "SECRET=1"
        assert client.get("/static/.git/config").text == "[remote] SECRET"
        assert client.get("/static/.git/").text == "SECRET index"
        assert client.get("/static/env_link").text == "SECRET=1"
    with TestClient(mounted(site)) as client:
        assert client.get("/static/a.txt").text == "file a"
        assert client.get("/static/.env").status_code == 404


async def test_absolute_paths_stay_under_the_root(site: Path, tmp_path: Path) -> None:
    app = mounted(site)
    secret = str(tmp_path / "secret.txt")
    for path in ("/static/" + secret, "/static//" + secret, "/static//etc/passwd"):
        recorder = await fetch(app, path)
        assert recorder.status == 404, path
        assert b"SECRET" not in recorder.body
    # A leading run of slashes is just the root: "//a.txt" is root/a.txt.
    assert (await fetch(app, "/static//a.txt")).body == b"file a"


async def test_encoded_dots_are_decoded_once_only(site: Path) -> None:
    # "%252e%252e" arrives as the literal name "%2e%2e", which is a real directory here.
    recorder = await fetch(mounted(site), "/static/%2e%2e/literal.txt")
    assert recorder.body == b"literal"
    missing = await fetch(mounted(site), "/static/%2e%2e/secret.txt")
    assert missing.status == 404


def test_traversal_through_the_test_client(site: Path) -> None:
    with TestClient(mounted(site)) as client:
        for path in (
            "/static/%2e%2e/secret.txt",
            "/static/%2E%2E/secret.txt",
            "/static/..%2fsecret.txt",
            "/static/..%5csecret.txt",
            "/static/%2e%2e%5csecret.txt",
            "/static/sub/%2e%2e/%2e%2e/secret.txt",
            "/static/a.txt%00",
        ):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "SECRET" not in response.text


# ---------------------------------------------------------------------------- html mode
def test_html_mode_serves_index_files(site: Path) -> None:
    with TestClient(mounted(site, html=True), follow_redirects=False) as client:
        home = client.get("/static/")
        sub = client.get("/static/sub/")
        assert home.text == "<p>home</p>"
        assert home.headers["content-type"] == "text/html; charset=utf-8"
        assert sub.text == "<p>sub index</p>"
        assert client.get("/static/empty-dir/").status_code == 404
        assert client.get("/static/a.txt").text == "file a"


def test_html_mode_redirects_directories_to_their_slash_form(site: Path) -> None:
    with TestClient(mounted(site, html=True), follow_redirects=False) as client:
        sub = client.get("/static/sub", params={"x": "1"})
        root = client.get("/static")
        spaced = client.get("/static/a%20b")
        assert sub.status_code == 307
        assert sub.headers["location"] == "/static/sub/?x=1"
        assert root.headers["location"] == "/static/"
        assert spaced.headers["location"] == "/static/a%20b/"
        assert client.get(spaced.headers["location"]).text == "spaced index"


async def test_redirect_location_cannot_leave_the_site(site: Path) -> None:
    app = StaticFiles(site, html=True)
    (site / "evil.com").mkdir()
    (site / "evil.com" / "index.html").write_text("x")
    recorder = await call(app, http_scope("//evil.com"))
    assert recorder.status == 307
    assert recorder.header(b"location") == b"/evil.com/"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"a=\x7f", b"/static/sub/?a=%7F"),
        (b"a=\x01&b=\r\n", b"/static/sub/?a=%01&b=%0D%0A"),
        (b"q=caf\xc3\xa9 x", b"/static/sub/?q=caf%C3%A9%20x"),
        (b"a=%41&b=/c?d", b"/static/sub/?a=%41&b=/c?d"),
    ],
)
async def test_redirect_query_is_percent_encoded(site: Path, query: bytes, expected: bytes) -> None:
    # The same encoding as the app's trailing-slash redirect: a control byte in the query
    # cannot break the Location header (it used to be a 500).
    recorder = await fetch(mounted(site, html=True), "/static/sub", query=query)
    assert recorder.status == 307
    assert recorder.header(b"location") == expected


def test_html_mode_404_page(site: Path) -> None:
    with TestClient(mounted(site, html=True)) as client:
        assert client.get("/static/nope").text == "Not Found"  # no 404.html yet
        (site / "404.html").write_text("<h1>lost</h1>")
        response = client.get("/static/nope")
        head = client.head("/static/nope")
    assert response.status_code == 404
    assert response.text == "<h1>lost</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "etag" not in response.headers
    assert head.status_code == 404
    assert head.content == b""


def test_a_404_page_that_links_out_of_the_root_is_not_used(site: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.html").write_text("outside page")
    (site / "404.html").symlink_to(tmp_path / "elsewhere.html")
    with TestClient(mounted(site, html=True)) as client:
        assert client.get("/static/nope").text == "Not Found"


def test_index_html_that_is_a_directory_is_not_served(site: Path) -> None:
    (site / "empty-dir" / "index.html").mkdir()
    with TestClient(mounted(site, html=True)) as client:
        assert client.get("/static/empty-dir/").status_code == 404


# ---------------------------------------------------------------------------- the app itself
def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        StaticFiles(tmp_path / "nope")
    app = StaticFiles(tmp_path / "nope", check_dir=False)
    with TestClient(app) as client:
        assert client.get("/a.txt").status_code == 404


def test_used_directly_as_the_app(site: Path) -> None:
    with TestClient(StaticFiles(site)) as client:
        assert client.get("/a.txt").text == "file a"
        assert client.get("/../secret.txt").status_code == 404


async def test_websocket_and_lifespan_scopes(site: Path) -> None:
    recorder = await call(StaticFiles(site), {"type": "websocket", "path": "/a.txt"})
    assert recorder.sent == [{"type": "websocket.close", "code": 1000, "reason": ""}]
    lifespan = await call(StaticFiles(site), {"type": "lifespan"})
    assert lifespan.sent == []


def test_the_root_is_resolved_once(tmp_path: Path, site: Path) -> None:
    link = tmp_path / "root-link"
    link.symlink_to(site)
    app = StaticFiles(link)
    assert app.directory == os.path.realpath(site)
    with TestClient(app) as client:
        assert client.get("/a.txt").text == "file a"
