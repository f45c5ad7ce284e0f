"""Duration parsing and rendering."""

from __future__ import annotations

import pytest
from sparkwing.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("10m", 600), ("1h30m", 5400), ("500ms", 0.5), ("7d", 604800), ("2w", 1209600),
    ("1.5", 1.5), (3, 3.0), ("0", 0.0),
])
def test_parse(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "ten", "5x", "-3", "1h 30m", True, -1])
def test_parse_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


def test_format() -> None:
    assert [format_duration(x) for x in (None, 0.04, 1.25, 245, 7380)] == [
        "-", "40ms", "1.2s", "4m05s", "2h03m"]
