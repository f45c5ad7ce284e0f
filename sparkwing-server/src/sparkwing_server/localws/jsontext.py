"""JSON text of API answers and stream frames."""

from __future__ import annotations

import json


def dumps(value: object) -> str:
    """Compact JSON text of *value* (objects JSON cannot hold become strings)."""
    return json.dumps(value, separators=(",", ":"), default=str)
