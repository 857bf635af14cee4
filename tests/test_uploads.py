"""UploadFile: spooling, save_to and file-name safety, closing uploads when a request ends."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aaf import HTTPError, Limits, Router, aaf
from aaf.connection import Connection
from aaf.limits import KiB
from aaf.uploads import UnsafeFilenameError, UploadFile, base_name
from tests.support.bodies import (
    DISCONNECT,
    Feeder,
    FormApp,
    chunked,
    multipart,
    multipart_headers,
    part,
    post,
    scope_for,
)
from tests.support.forms import result


# ---------------------------------------------------------------------------- UploadFile
async def test_upload_spools_to_disk_past_the_threshold() -> None:
    forms = FormApp(limits=Limits(upload_spool_size=10 * KiB))
    small = b"s" * (10 * KiB)
    big = bytes(range(256)) * 200  # 51200 bytes
    body = multipart([part("small", small, filename="s.bin"), part("big", big, filename="b.bin")])
    feeder = await post(forms.app, "/form", chunked(body, 4096), multipart_headers())
    assert feeder.status == 200
    described = result(feeder)
    assert described["small"][0]["in_memory"] is True
    assert described["big"][0]["in_memory"] is False
    assert described["big"][0]["size"] == len(big)


async def test_upload_file_api() -> None:
    upload = UploadFile("f", "a.txt", "text/plain", spool_size=4)
    upload.write_chunk(b"ab")
    assert upload.in_memory
    upload.write_chunk(b"cdef")
    assert not upload.in_memory
    assert upload.size == 6
    assert await upload.seek(0) == 0
    assert await upload.read(2) == b"ab"
    assert await upload.read() == b"cdef"
    await upload.seek(1)
    assert await upload.read() == b"bcdef"
    assert "a.txt" in repr(upload)
    assert upload.file.readable()
    await upload.close()
    assert upload.closed
    upload.close_now()  # closing twice is harmless

    memory = UploadFile("g", None)
    memory.write_chunk(b"xyz")
    await memory.seek(0)
    assert await memory.read() == b"xyz"
    assert memory.headers == type(memory.headers)([])


async def test_save_to_writes_inside_the_directory(tmp_path: Path) -> None:
    upload = UploadFile("f", "report.txt", spool_size=4)
    upload.write_chunk(b"0123456789")
    await upload.seek(3)
    saved = await upload.save_to(tmp_path)
    assert saved == tmp_path.resolve() / "report.txt"  # noqa: ASYNC240 - test check
    assert saved.read_bytes() == b"0123456789"
    assert await upload.read() == b"3456789"  # the read position is kept
    renamed = await upload.save_to(str(tmp_path), "other.bin")
    assert renamed.read_bytes() == b"0123456789"
    await upload.close()


async def test_save_to_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"old")
    upload = UploadFile("f", "a.txt")
    upload.write_chunk(b"new")
    with pytest.raises(HTTPError) as info:
        await upload.save_to(tmp_path)
    assert info.value.status_code == 409
    assert (tmp_path / "a.txt").read_bytes() == b"old"
    await upload.save_to(tmp_path, overwrite=True)
    assert (tmp_path / "a.txt").read_bytes() == b"new"


@pytest.mark.parametrize(
    "name",
    ["../escape.txt", "..", ".", "", "a/b", "a\\b", "x\x00y", "line\nbreak", "é" * 200],
)
async def test_save_to_refuses_names_that_are_not_plain(tmp_path: Path, name: str) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    upload = UploadFile("f", "ok.txt")
    upload.write_chunk(b"x")
    with pytest.raises(UnsafeFilenameError) as info:
        await upload.save_to(inner, name)
    assert info.value.status_code == 400
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["inner"]  # noqa: ASYNC240


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        (".htaccess", "starts with '.'"),
        (".env", "starts with '.'"),
        ("a:b.txt", "':'"),
        ("report.txt:stream", "':'"),
        ("CON", "device name"),
        ("con.txt", "device name"),
        ("Nul.tar.gz", "device name"),
        ("aux", "device name"),
        ("PRN.log", "device name"),
        ("COM1", "device name"),
        ("lpt9.txt", "device name"),
        ("COM\u00b9.txt", "device name"),
        ("CON .txt", "device name"),
        ("a.txt.", "ends with a dot or a space"),
        ("a.txt ", "ends with a dot or a space"),
        ("evil. . ", "ends with a dot or a space"),
    ],
)
async def test_save_to_refuses_client_names_that_are_risky(
    tmp_path: Path, filename: str, reason: str
) -> None:
    # APPSEC: a client's name could plant .htaccess in a served directory, or name a device,
    # a stream or a different file on Windows; the caller's own name= is its choice.
    upload = UploadFile("f", filename)
    upload.write_chunk(b"x")
    with pytest.raises(UnsafeFilenameError, match=reason) as info:
        await upload.save_to(tmp_path)
    assert info.value.status_code == 400
    assert "pass name=" in info.value.detail
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240 - test check
    saved = await upload.save_to(tmp_path, name="chosen" + filename.strip(". :"))
    assert saved.read_bytes() == b"x"


@pytest.mark.parametrize(
    "filename",
    ["console.txt", "COM10.txt", "CONx", "LPT", "a.b.txt", "a b.txt", "com0x", "x.y"],
)
async def test_save_to_keeps_ordinary_client_names(tmp_path: Path, filename: str) -> None:
    upload = UploadFile("f", filename)
    upload.write_chunk(b"x")
    assert (await upload.save_to(tmp_path)).name == filename


async def test_save_to_with_an_explicit_name_allows_dotfiles(tmp_path: Path) -> None:
    upload = UploadFile("f", ".htaccess")
    upload.write_chunk(b"x")
    assert (await upload.save_to(tmp_path, ".hidden")).name == ".hidden"


async def test_save_to_without_a_filename_needs_a_name(tmp_path: Path) -> None:
    upload = UploadFile("f", None)
    with pytest.raises(UnsafeFilenameError, match="pass name="):
        await upload.save_to(tmp_path)


async def test_save_to_never_writes_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "link.txt").symlink_to(outside)
    upload = UploadFile("f", "link.txt")
    upload.write_chunk(b"overwritten")
    with pytest.raises(HTTPError) as info:
        await upload.save_to(uploads)  # exists (as a link): refused, not followed
    assert info.value.status_code == 409
    with pytest.raises(UnsafeFilenameError, match="symbolic link"):
        await upload.save_to(uploads, overwrite=True)
    assert outside.read_bytes() == b"precious"


async def test_save_to_needs_an_existing_directory(tmp_path: Path) -> None:
    upload = UploadFile("f", "a.txt")
    with pytest.raises(FileNotFoundError):
        await upload.save_to(tmp_path / "missing")
    file = tmp_path / "file"
    file.write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        await upload.save_to(file)


async def test_save_to_reports_other_os_errors(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    upload = UploadFile("f", "taken")
    with pytest.raises(IsADirectoryError):
        await upload.save_to(tmp_path, overwrite=True)


def test_base_name() -> None:
    assert base_name("a/b\\c.txt") == "c.txt"
    assert base_name(".") == ""
    assert base_name("plain") == "plain"


async def test_save_guards_the_directory_even_past_the_name_check(tmp_path: Path) -> None:
    upload = UploadFile("f", "x")
    with pytest.raises(UnsafeFilenameError, match="leave the upload directory"):
        upload._save(tmp_path, "../escape", overwrite=False)


# ---------------------------------------------------------------------------- cleanup
async def test_uploads_are_closed_when_the_request_ends() -> None:
    forms = FormApp(limits=Limits(upload_spool_size=1024))
    body = multipart([part("a", b"x" * 5000, filename="a"), part("b", b"y", filename="b")])
    feeder = await post(forms.app, "/form", [body], multipart_headers())
    assert feeder.status == 200
    assert len(forms.uploads) == 2
    assert all(upload.closed for upload in forms.uploads)


async def test_uploads_are_closed_when_the_handler_fails() -> None:
    router = Router()
    uploads: list[UploadFile] = []

    @router.post("/")
    async def handler(conn: Connection) -> None:
        uploads.extend((await conn.form()).uploads())
        assert not uploads[0].closed  # still usable inside the handler
        raise RuntimeError("boom")

    body = multipart([part("a", b"x" * 5000, filename="a")])
    app = aaf([router], limits=Limits(upload_spool_size=100))
    feeder = await post(app, "/", [body], multipart_headers())
    assert feeder.status == 500
    assert uploads
    assert uploads[0].closed


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[UploadFile]:
    """Every UploadFile written to during the test."""
    seen: list[UploadFile] = []
    original = UploadFile.write_chunk

    def spy(self: UploadFile, data: bytes) -> None:
        if self not in seen:
            seen.append(self)
        original(self, data)

    monkeypatch.setattr(UploadFile, "write_chunk", spy)
    return seen


async def test_partial_uploads_are_closed_on_disconnect_and_limits(
    created: list[UploadFile],
) -> None:
    body = multipart([part("a", b"x" * 50_000, filename="a")], close=False)
    forms = FormApp(limits=Limits(upload_spool_size=100))
    feeder = await post(forms.app, "/form", [*chunked(body, 1000), DISCONNECT], multipart_headers())
    assert feeder.sent == []  # nobody left to answer
    assert len(created) == 1
    assert created[0].closed
    assert not created[0].in_memory

    limited = FormApp(limits=Limits(upload_spool_size=100, max_multipart_size=20_000))
    feeder = await post(limited.app, "/form", chunked(body, 1000), multipart_headers())
    assert feeder.status == 413
    assert len(created) == 2
    assert created[1].closed


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(multipart([part("a", b"x" * 5000, filename="a")] * 3), id="too-many-files"),
        pytest.param(multipart([part("a", b"x" * 5000, filename="a")], close=False), id="cut"),
        pytest.param(
            multipart([part("a", b"x" * 5000, filename="a"), b"Bad Header: x\r\n\r\n"]),
            id="malformed",
        ),
    ],
)
async def test_partial_uploads_are_closed_as_soon_as_parsing_fails(
    created: list[UploadFile], body: bytes
) -> None:
    router = Router()
    closed_when_raised: list[bool] = []

    @router.post("/")
    async def handler(conn: Connection) -> None:
        try:
            await conn.form()
        except HTTPError:
            # Before the request ends (and before on_finish runs), the files are already gone.
            closed_when_raised.extend(upload.closed for upload in created)
            raise

    app = aaf([router], limits=Limits(upload_spool_size=100, max_files=2))
    feeder = await post(app, "/", chunked(body, 1000), multipart_headers())
    assert feeder.status in (400, 413)
    assert created
    assert closed_when_raised == [True] * len(created)


async def test_uploads_are_closed_when_the_task_is_cancelled(created: list[UploadFile]) -> None:
    forms = FormApp(limits=Limits(upload_spool_size=100))
    body = multipart([part("a", b"x" * 5000, filename="a")], close=False)
    gate = asyncio.Event()

    async def slow_body() -> Any:
        feeder = Feeder(chunked(body, 1000))
        message = await feeder.receive()
        while message["type"] == "http.request" and message["more_body"]:
            yield message
            message = await feeder.receive()
        gate.set()
        await asyncio.sleep(60)  # the client stalls; the server cancels the request task

    messages = slow_body()

    async def receive() -> Any:
        return await anext(messages)

    async def send(message: Any) -> None:
        raise AssertionError("nothing should be sent")

    task = asyncio.ensure_future(forms.app(scope_for("/form", multipart_headers()), receive, send))
    await asyncio.wait_for(gate.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    await messages.aclose()
    conn = forms.connections[0]
    assert conn._on_finish is None  # the on_finish callbacks ran
    assert forms.uploads == []  # the handler never got the form
    assert len(created) == 1
    assert created[0].closed
    assert not created[0].in_memory
