"""Read an event stream frame by frame, comments and data-less frames included (which
``aiter_sse`` leaves out): what a browser's EventSource gets, byte for byte."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    """The fields of one frame (up to its blank line); comments are the ``:`` lines."""

    fields: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    @property
    def event(self) -> str | None:
        return self.fields.get("event")

    @property
    def id(self) -> str | None:
        return self.fields.get("id")

    def json(self) -> Any:
        return json.loads(self.fields["data"])


class FrameReader:
    """``await reader.next()``: the next frame, within ``timeout`` seconds."""

    def __init__(self, response: httpx.Response, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._lines: AsyncIterator[str] = response.aiter_lines()

    async def _read(self) -> Frame:
        frame = Frame()
        async for line in self._lines:
            if not line:
                return frame
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name:
                frame.fields[name] = value
            else:
                frame.comments.append(value)
        raise EOFError("the event stream ended")

    async def next(self) -> Frame:
        return await asyncio.wait_for(self._read(), self.timeout)

    async def next_event(self) -> Frame:
        """The next frame with data (pings skipped)."""
        while True:
            frame = await self.next()
            if "data" in frame.fields:
                return frame
