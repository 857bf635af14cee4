"""An app serving the directory named by AAF_STATIC_DIR under /static (integration tests)."""

from __future__ import annotations

import os

from aaf import FileResponse, Router, StaticFiles, aaf

directory = os.environ["AAF_STATIC_DIR"]
router = Router()
router.mount("/static", StaticFiles(directory))


@router.get("/download")
async def download(conn: object) -> FileResponse:
    return FileResponse(os.path.join(directory, "data.bin"), filename="données.bin")


app = aaf([router])
