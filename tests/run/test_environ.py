"""``sparkwing.runtime.environ.snapshot``: a fresh dict of the environment as it is now."""

from __future__ import annotations

import os

import pytest
from sparkwing.runtime import environ


def test_snapshot_follows_every_change(monkeypatch: pytest.MonkeyPatch) -> None:
    first = environ.snapshot()
    assert first == dict(os.environ)
    first["SW_TEST_ONLY_IN_COPY"] = "1"  # the caller's to change
    assert "SW_TEST_ONLY_IN_COPY" not in environ.snapshot()
    monkeypatch.setenv("SW_TEST_SNAPSHOT", "a")
    assert environ.snapshot()["SW_TEST_SNAPSHOT"] == "a"
    monkeypatch.setenv("SW_TEST_SNAPSHOT", "b")
    assert environ.snapshot()["SW_TEST_SNAPSHOT"] == "b"
    monkeypatch.delenv("SW_TEST_SNAPSHOT")
    again = environ.snapshot()
    assert "SW_TEST_SNAPSHOT" not in again and again == dict(os.environ)
    assert again is not environ.snapshot()


def test_current_is_shared_until_the_environment_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    first = environ.current()
    assert first == dict(os.environ)
    assert environ.current() is first  # nothing decoded or copied again
    monkeypatch.setenv("SW_TEST_CURRENT", "x")
    changed = environ.current()
    assert changed is not first and changed["SW_TEST_CURRENT"] == "x"
    assert "SW_TEST_CURRENT" not in first
