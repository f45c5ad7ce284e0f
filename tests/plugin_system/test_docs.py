"""Guardrail: every hook is documented, in its docstring and in docs/plugins.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from sparkwing.plugins import PROJECT, hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _hookspecs() -> dict[str, object]:
    return {
        name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{PROJECT}_spec")
    }


def _documented() -> set[str]:
    return set(re.findall(r"^### (sparkwing_\w+)\s*$", DOC.read_text(), flags=re.MULTILINE))


def test_there_are_hookspecs_to_check() -> None:
    assert "sparkwing_register_backends" in _hookspecs()


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hookspec_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(_hookspecs()[name]) or ""
    assert len(doc.split()) >= 5, f"hookspec {name} needs a real docstring"


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hookspec_has_a_heading_in_the_plugin_guide(name: str) -> None:
    assert name in _documented(), f"docs/plugins.md needs a '### {name}' section"


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    assert _documented() - set(_hookspecs()) == set()


def test_every_hook_follows_the_naming_rule() -> None:
    assert all(name.startswith("sparkwing_") for name in _hookspecs())
