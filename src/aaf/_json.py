"""The JSON codec, in one place so every module encodes the same way (msgspec)."""

from __future__ import annotations

from typing import Any

import msgspec

# PERF: one reusable encoder; msgspec's Encoder.encode avoids per-call setup.
_encoder = msgspec.json.Encoder()
encode = _encoder.encode
DecodeError = msgspec.DecodeError


def decode(data: bytes | str) -> Any:
    return msgspec.json.decode(data)
