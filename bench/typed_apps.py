"""One typed endpoint written the idiomatic way in each framework (used by bench/typed.py).

``PUT /items/<int:item_id>?limit=<int>&verbose=<bool>`` with a JSON body of five fields,
answering a typed object that echoes them. Each builder returns an ASGI app; frameworks that
are not installed are skipped by the runner.

No ``from __future__ import annotations`` here: the frameworks resolve the annotations of
handlers defined inside the builders when the route is registered.
"""

from typing import Any

import msgspec


# The msgspec models (aaf, typed and by hand, and Litestar).
class Item(msgspec.Struct):
    name: str
    price: float
    count: int
    tags: list[str]
    active: bool


class Answer(msgspec.Struct):
    id: int
    limit: int
    verbose: bool
    item: Item


try:
    from pydantic import BaseModel
except ImportError:  # then FastAPI and BlackSheep are missing too, and their builders skipped
    BaseModel = object  # type: ignore[misc,assignment]


# The same two models in Pydantic (FastAPI, and BlackSheep's validated binding).
class PydanticItem(BaseModel):
    name: str
    price: float
    count: int
    tags: list[str]
    active: bool


class PydanticAnswer(BaseModel):
    id: int
    limit: int
    verbose: bool
    item: PydanticItem


# ---------------------------------------------------------------- aaf, typed
def aaf_typed() -> Any:
    from aaf import Body, Query, aaf

    app = aaf()

    @app.put("/items/<int:item_id>")
    async def update(
        item_id: int, item: Body[Item], limit: Query[int] = 10, verbose: Query[bool] = False
    ) -> Answer:
        return Answer(item_id, limit, verbose, item)

    return app


# ------------------------------------------------- aaf, validated by hand
def aaf_by_hand() -> Any:
    from aaf import Connection, HTTPError, aaf

    decoder = msgspec.json.Decoder(Item)
    app = aaf()

    @app.put("/items/<int:item_id>")
    async def update(conn: Connection, item_id: int) -> Answer:
        query = conn.query
        try:
            limit = int(query.get("limit", "10"))
        except ValueError:
            raise HTTPError(400, "limit must be an integer") from None
        verbose_text = query.get("verbose", "false").lower()
        if verbose_text not in ("true", "false", "1", "0"):
            raise HTTPError(400, "verbose must be a boolean")
        try:
            item = decoder.decode(await conn.body())
        except msgspec.ValidationError as exc:
            raise HTTPError(422, str(exc)) from None
        except msgspec.DecodeError:
            raise HTTPError(400, "malformed JSON") from None
        return Answer(item_id, limit, verbose_text in ("true", "1"), item)

    return app


# ---------------------------------------------------------------- FastAPI
def fastapi() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.put("/items/{item_id}")
    async def update(
        item_id: int, item: PydanticItem, limit: int = 10, verbose: bool = False
    ) -> PydanticAnswer:
        return PydanticAnswer(id=item_id, limit=limit, verbose=verbose, item=item)

    return app


# ---------------------------------------------------------------- Litestar
def litestar() -> Any:
    from litestar import Litestar, put

    @put("/items/{item_id:int}", status_code=200)
    async def update(item_id: int, data: Item, limit: int = 10, verbose: bool = False) -> Answer:
        return Answer(item_id, limit, verbose, data)

    return Litestar([update], openapi_config=None, logging_config=None)


# ---------------------------------------------------------------- BlackSheep
def blacksheep() -> Any:
    from blacksheep import Application, FromJSON, FromQuery

    # BlackSheep validates bodies through pydantic models (its dataclass binding does not
    # check field types), so this is its idiomatic typed form.
    app = Application()

    @app.router.put("/items/{int:item_id}")
    async def update(
        item_id: int,
        data: FromJSON[PydanticItem],
        limit: FromQuery[int] = FromQuery(10),  # noqa: B008 - BlackSheep's own idiom
        verbose: FromQuery[bool] = FromQuery(False),  # noqa: B008
    ) -> PydanticAnswer:
        return PydanticAnswer(id=item_id, limit=limit.value, verbose=verbose.value, item=data.value)

    return app


BUILDERS = {
    "aaf typed": aaf_typed,
    "aaf by hand": aaf_by_hand,
    "fastapi": fastapi,
    "litestar": litestar,
    "blacksheep": blacksheep,
}
