"""The reused C encoder writes what json.dumps writes, and fails the same way."""

from __future__ import annotations

import json

import pytest
from sparkwing.jsontext import dumps

VALUES = [
    {}, [], {"a": 1, "b": [1.5, None, True, False], "c": "é \u2028 \"q\" \\"},
    {"nested": {"deep": [{"x": -0.0}, float("inf"), float("nan")]}}, "text", 7, 2.5, None,
    [["ctl \x01"], {"k": "𝄞"}], {1: "int key", 2.5: "float key", None: "null key"},
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_same_text_as_json_dumps(value: object) -> None:
    assert dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_a_circular_value_is_a_value_error() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        dumps({"loop": loop})
    assert dumps({"after": 1}) == '{"after":1}'  # the encoder is still usable


def test_an_unencodable_value_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dumps({"o": object()})
