"""Fixtures for sparkwing-github: a throwaway project, its stores, the dashboard app, signed posts.

Pipeline modules get a name of their own (``gh_<hex>_<name>``) because
in-process tests import them into one interpreter.
"""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Real payloads (``<event>[.<action>].json``; see ``fixtures/README.md`` for their origin).
FIXTURES = Path(__file__).resolve().parent / "fixtures"

#: The secret the tests' deliveries are signed with.
SECRET = "test-secret-0f3c"

ONE_JOB = """
    import sparkwing as sw

    def plan(plan, inputs, run):
        plan.job("hello", sw.sh("echo hello"))
"""


def payload(name: str) -> bytes:
    """The raw bytes of fixture *name* (``push.with-new-branch``)."""
    return (FIXTURES / f"{name}.json").read_bytes()


def event_of(name: str) -> str:
    """The ``X-GitHub-Event`` of fixture *name*."""
    return name.split(".", 1)[0]


class Project:
    """A temporary project whose ``SPARKWING_HOME`` is set in this process."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.tag = os.urandom(3).hex()
        self.entries: list[str] = []
        #: The state store the dashboard serves (set by the ``stores`` fixture).
        self.state: Any = None

    def add(self, name: str, on: str = "", source: str = ONE_JOB) -> None:
        """Add pipeline *name* with an optional ``on:`` block (YAML text)."""
        module = f"gh_{self.tag}_{name.replace('-', '_')}"
        (self.root / ".sparkwing" / f"{module}.py").write_text(textwrap.dedent(source))
        entry = f"  - name: {name}\n    entrypoint: {module}:plan\n"
        if on:
            entry += "    on:\n" + textwrap.indent(textwrap.dedent(on).strip("\n"), "      ") + "\n"
        self.entries.append(entry)
        (self.root / ".sparkwing" / "sparkwing.yaml").write_text(
            "pipelines:\n" + "".join(self.entries))

    def runs(self) -> list[Any]:
        """Every recorded run, newest first (read through the dashboard's own store)."""
        return list(self.state.list_runs()) if self.state is not None else []

    def triggers(self) -> list[Any]:
        """Every trigger row, newest first."""
        return list(self.state.list_triggers(limit=0)) if self.state is not None else []


@pytest.fixture
def project(tmp_path: Path, sparkwing_home: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project, the webhook secret set, git variables of the caller removed."""
    root = tmp_path / "repo"
    (root / ".sparkwing").mkdir(parents=True)
    for name in list(os.environ):
        if name.startswith("GIT_") or name.startswith("GITHUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("SPARKWING_GITHUB_WEBHOOK_SECRET", SECRET)
    return Project(root, sparkwing_home)


@pytest.fixture
def stores(project: Project) -> Iterator[Any]:
    """The laptop stores of the test's home (what the dashboard serves)."""
    from sparkwing.config import open_stores, resolve_profile

    opened = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    project.state = opened.state
    yield opened
    project.state = None
    opened.close()


def headers(event: str, delivery: str, body: bytes, secret: str = SECRET,
            signature: str | None = None) -> dict[str, str]:
    """The headers GitHub sends with *body* (signature computed unless given)."""
    from sparkwing_github.signature import sign

    out = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
           "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/test"}
    sig = sign(secret, body) if signature is None else signature
    if sig:
        out["X-Hub-Signature-256"] = sig
    return out


async def eventually(pred: Any, timeout: float = 90.0, what: str = "condition") -> Any:
    """Poll *pred* without blocking the event loop until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def edited(name: str, **changes: Any) -> bytes:
    """Fixture *name* with top-level keys replaced."""
    data = json.loads(payload(name))
    data.update(changes)
    return json.dumps(data).encode()
