"""An app that sends 103 Early Hints before its page (in-process tests and hypercorn)."""

from __future__ import annotations

from typing import Any

from aaf import Connection, ResponseStateError, Router, aaf

STYLE_LINK = "</style.css>; rel=preload; as=style"

router = Router()


@router.get("/")
async def page(conn: Connection) -> dict[str, Any]:
    sent = await conn.early_hints([("link", STYLE_LINK)])
    conn.put_resp_header("link", STYLE_LINK)  # for clients that never see the 103
    return {"early_hints_sent": sent}


@router.get("/late")
async def late(conn: Connection) -> None:
    await conn.send("started ")
    try:
        await conn.early_hints([("link", STYLE_LINK)])
    except ResponseStateError as exc:
        await conn.send(str(exc), finish=True)


app = aaf([router])
