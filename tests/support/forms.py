"""Reading the JSON that tests.support.bodies.FormApp answers with."""

from __future__ import annotations

import json
from typing import Any


def result(feeder: Any) -> Any:
    return json.loads(feeder.body)
