"""The JSON codec, in one place so every module encodes the same way (msgspec)."""

from __future__ import annotations

from typing import Any

import msgspec

# PERF: one reusable encoder; msgspec's Encoder.encode avoids per-call setup.
_encoder = msgspec.json.Encoder()
encode = _encoder.encode
DecodeError = msgspec.DecodeError


def decode(data: bytes | str) -> Any:
    """Decode JSON; every malformed input raises ``DecodeError``."""
    try:
        return msgspec.json.decode(data)
    except RecursionError:
        # APPSEC: "[[[[..." within a size limit nests deeper than the decoder allows; that is
        # invalid input (a 400, a 1007 close), not a server error.
        raise DecodeError("JSON is nested too deeply") from None
    except UnicodeDecodeError as exc:
        # msgspec (0.18 to at least 0.22) raises this, not DecodeError, for invalid UTF-8
        # inside a JSON string: the client's mistake all the same.
        raise DecodeError(f"JSON is not valid UTF-8: {exc.reason} at byte {exc.start}") from None
