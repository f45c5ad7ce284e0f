"""JSON columns of the SQL stores: compact text, the common empty values without the encoder."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sparkwing.storage.sql.rows import encode_json


@pytest.mark.parametrize("value", [[], {}, [1, "a"], {"k": ["ü", None]}, 0, "", None, False,
                                   (), {"": {}}])
def test_encode_json_writes_what_json_dumps_would(value: Any) -> None:
    assert encode_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
