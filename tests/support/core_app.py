"""The app the core-regression server tests run under uvicorn (h11 and httptools): answers
that must carry no body, and answers whose Content-Type could be doubled."""

from __future__ import annotations

from aaf import (
    Connection,
    FileResponse,
    HttpResponse,
    JsonResponse,
    Router,
    StreamingResponse,
    aaf,
)

router = Router()


@router.get("/ok")
async def ok(conn: Connection) -> str:
    return "ok"


@router.get("/imperative/<int:status>")
async def imperative(conn: Connection, status: int) -> None:
    conn.resp_status_code = status
    await conn.send("a body that must not go out", finish=False)
    await conn.finish()


@router.get("/stream/<int:status>")
async def stream(conn: Connection, status: int) -> StreamingResponse:
    return StreamingResponse([b"a body ", b"that must not go out"], status_code=status)


@router.get("/file/<int:status>")
async def file(conn: Connection, status: int) -> FileResponse:
    return FileResponse(__file__, status_code=status)


@router.get("/problem")
async def problem(conn: Connection) -> JsonResponse:
    conn.put_resp_header("content-type", "application/problem+json")
    return JsonResponse({"title": "bad"}, 422)


@router.get("/csv")
async def csv(conn: Connection) -> HttpResponse:
    response = HttpResponse("a,b")
    response.headers["content-type"] = "text/csv"
    return response


app = aaf([router])
