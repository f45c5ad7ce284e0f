"""The run error names failed jobs apart from cancelled ones; one formatter, one parser."""

from __future__ import annotations

import pytest
from sparkwing.runerror import JobFailures, format_job_failures, parse_job_failures


@pytest.mark.parametrize(("failed", "cancelled", "text"), [
    (["a"], [], "jobs failed: a"),
    (["a", "tests/unit"], ["b", "c"], "jobs failed: a, tests/unit; cancelled: b, c"),
    ([], ["b"], "jobs cancelled: b"),
])
def test_format_and_parse_agree(failed: list[str], cancelled: list[str], text: str) -> None:
    assert format_job_failures(failed, cancelled) == text
    assert parse_job_failures(text) == JobFailures(failed, cancelled)


def test_other_errors_are_not_job_lists() -> None:
    assert format_job_failures([], []) == ""
    assert parse_job_failures("plan error") is None
    assert parse_job_failures("superseded: a") is None
