"""Machines made of real ``sparkwing`` processes, sharing one object store.

A :class:`Machine` is one isolated HOME, ``SPARKWING_HOME`` and config
directory with its own checkout of a project; every machine's
``profiles.yaml`` has a ``team`` profile whose state, logs and cache are
``dir`` stores in one shared directory, as two laptops (or a laptop and a
CI job) sharing one bucket. A test plugin on ``PYTHONPATH`` (a real
distribution found through the ``sparkwing`` entry point group) adds the
``dir-switchable`` type: a ``dir`` store that is unreachable while its
``down_file`` exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PLUGIN_MODULE = '''
"""Test plugin: a dir blob store that is down while a file exists."""
from pathlib import Path

import sparkwing
from sparkwing.storage.blobs.dirstore import DirBlobStore
from sparkwing.storage.blobs.register import add_blob_backend
from sparkwing.testing.blobstores import Switchable


def make(config, context):
    inner = DirBlobStore(Path(config["path"]), str(config.get("prefix") or ""))
    return Switchable(inner, config["down_file"])


@sparkwing.hookimpl
def sparkwing_register_backends(registry):
    add_blob_backend(registry, "dir-switchable", make, required=("path", "down_file"),
                     description="a dir store that is down while down_file exists")
'''


def write_plugin_site(root: Path) -> Path:
    """Write the ``dir-switchable`` test plugin as an installed distribution under *root*."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / "sparkwing_test_switchable-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: sparkwing-test-switchable\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sparkwing]\nswitchable = sw_test_switchable\n")
    (root / "sw_test_switchable.py").write_text(PLUGIN_MODULE)
    return root


@dataclass
class Result:
    """A finished ``sparkwing`` process."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as one JSON document."""
        return json.loads(self.out)

    def ndjson(self) -> list[Any]:
        """stdout as one JSON object per line."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


@dataclass
class Machine:
    """One isolated sparkwing installation with its own project checkout."""

    name: str
    root: Path
    env: dict[str, str]
    repo: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def sw_home(self) -> Path:
        """This machine's ``SPARKWING_HOME``."""
        return Path(self.env["SPARKWING_HOME"])

    def cli(self, *args: str, timeout: float = 180, **env: str) -> Result:
        """Run ``sparkwing ARGS`` in the project and wait for it."""
        proc = subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.repo,
            capture_output=True, text=True, env={**self.env, **env}, timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start ``sparkwing ARGS`` in the background (killed at teardown if still alive)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.repo,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**self.env, **env},
        )
        self.procs.append(proc)
        return proc

    def add_pipeline(self, name: str, code: str) -> None:
        """Add a pipeline to this machine's checkout."""
        module = name.replace("-", "_")
        pdir = self.repo / ".sparkwing" / "pipelines"
        pdir.mkdir(parents=True, exist_ok=True)
        (pdir / f"{module}.py").write_text(textwrap.dedent(code).lstrip("\n"))
        yaml = self.repo / ".sparkwing" / "sparkwing.yaml"
        text = yaml.read_text() if yaml.exists() else "pipelines:\n"
        text += f"  - name: {name}\n    entrypoint: pipelines.{module}:plan\n"
        yaml.write_text(text)


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Poll *predicate* until it returns something truthy; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def make_machine(base: Path, name: str, profiles: str, plugin_site: Path | None) -> Machine:
    """An isolated machine under *base*/*name* whose profiles.yaml holds *profiles*."""
    root = base / name
    home, sw_home, xdg, repo = (root / d for d in ("home", "swhome", "xdg", "repo"))
    for d in (home, sw_home, xdg / "sparkwing", repo / ".sparkwing"):
        d.mkdir(parents=True)
    (xdg / "sparkwing" / "profiles.yaml").write_text(profiles)
    (repo / ".sparkwing" / "sparkwing.yaml").write_text("pipelines:\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SPARKWING_") or k.startswith("SPARKWING_TEST_")}
    env.update(
        HOME=str(home), SPARKWING_HOME=str(sw_home), XDG_CONFIG_HOME=str(xdg),
        SPARKWING_PROFILES=str(xdg / "sparkwing" / "profiles.yaml"), NO_COLOR="1",
        GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", USER=f"user-{name}",
        SPARKWING_OUTBOX_RETRY_FIRST_S="0.2", SPARKWING_OUTBOX_RETRY_MAX_S="0.5",
    )
    if plugin_site is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(plugin_site), env.get("PYTHONPATH", "")) if p)
    return Machine(name, root, env, repo)


def team_profile(store: Path, kind: str = "dir", extra: str = "") -> str:
    """A profiles.yaml with a ``team`` profile whose three surfaces live in *store*."""
    lines = ["profiles:", "  team:"]
    for surface in ("state", "logs", "cache"):
        lines.append(f"    {surface}: {{type: {kind}, path: {store}, prefix: {surface}{extra}}}")
    return "\n".join(lines) + "\n"


def stop_all(machines: list[Machine]) -> None:
    """Kill what a test left running."""
    for m in machines:
        for proc in m.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def two_machines(tmp_path: Path) -> Iterator[tuple[Machine, Machine, Path]]:
    """Machines ``a`` and ``b`` whose ``team`` profile shares one ``dir`` store."""
    store = tmp_path / "team-store"
    machines = [make_machine(tmp_path, n, team_profile(store), None) for n in ("a", "b")]
    yield machines[0], machines[1], store
    stop_all(machines)


@pytest.fixture
def switchable_machine(tmp_path: Path) -> Iterator[tuple[Machine, Path, Path]]:
    """One machine whose ``team`` profile uses ``dir-switchable``; returns (machine, store, down file)."""
    store = tmp_path / "team-store"
    down = tmp_path / "store-is-down"
    site = write_plugin_site(tmp_path / "plugin-site")
    machine = make_machine(tmp_path, "m", team_profile(store, "dir-switchable",
                                                      f", down_file: {down}"), site)
    yield machine, store, down
    stop_all([machine])
