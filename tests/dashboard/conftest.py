"""Fixtures for the dashboard tests: real stores, an app client, SSE reading, the real CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

HERE = Path(__file__).parent
SIMRUN = HERE / "simrun.py"
#: Screenshots of the browser tests are kept here (gitignored).
SCREENSHOTS = HERE.parent.parent / "test-artifacts" / "screenshots"


# -- stores and records -------------------------------------------------------------------
class Recorder:
    """Writes runs, nodes, steps, events and log records through the real stores."""

    def __init__(self, stores: Any) -> None:
        self.stores = stores
        self.state = stores.state
        self.logs = stores.logs
        self._n = 0

    def run(self, pipeline: str = "build", status: str = "running", **fields: Any) -> Any:
        """Create a run (ids increase with each call, so newest-first order is creation order)."""
        from sparkwing.storage.records import Run

        self._n += 1
        now = time.time()
        run_id = fields.pop("id", None) or f"run-20260101-{self._n:06d}-{os.urandom(4).hex()}"
        run = Run(id=run_id, pipeline=pipeline, status=status, created_at=now, started_at=now,
                  **fields)
        if status in ("success", "failed", "cancelled") and run.finished_at is None:
            run.finished_at = now + 1
        self.state.create_run(run)
        return run

    def nodes(self, run_id: str, *specs: Any) -> None:
        """Create nodes: each spec is an id or ``(id, deps)``."""
        from sparkwing.storage.records import Node

        nodes = []
        for spec in specs:
            node_id, deps = (spec, []) if isinstance(spec, str) else spec
            nodes.append(Node(run_id, node_id, deps=list(deps)))
        self.state.create_nodes(run_id, nodes)

    def log(self, run_id: str, node_id: str, *msgs: str, step: str = "",
            event: str = "exec_line", level: str = "info") -> None:
        """Append one record per message to a node's log."""
        from sparkwing.storage.logrecord import make_record

        self.logs.append(run_id, node_id, [
            make_record(m, node=node_id, step=step, event=event, level=level) for m in msgs
        ])

    def event(self, run_id: str, kind: str, node_id: str = "", **payload: Any) -> int:
        """Append an event and return its seq."""
        return self.state.append_event(run_id, kind, payload, node_id=node_id)

    def finish(self, run_id: str, status: str = "success") -> None:
        """Mark the run terminal."""
        self.state.update_run(run_id, {"status": status, "finished_at": time.time()})


@pytest.fixture
def stores(sparkwing_home: Path) -> Iterator[Any]:
    """The laptop profile's real stores under a fresh SPARKWING_HOME (SQLite + filesystem logs)."""
    from sparkwing.config import open_stores, resolve_profile

    opened = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    yield opened
    opened.close()


@pytest.fixture
def rec(stores: Any) -> Recorder:
    """A :class:`Recorder` over the test's stores."""
    return Recorder(stores)


@pytest_asyncio.fixture
async def client(aiohttp_client: Any, stores: Any) -> Any:
    """A test client of the dashboard app over the test's stores."""
    from sparkwing_server.localws.app import make_app

    test_client = await aiohttp_client(make_app(stores))
    # what the dashboard's own page sends with every write
    test_client.session.headers["Origin"] = f"http://{test_client.host}:{test_client.port}"
    return test_client


# -- Server-Sent Events ------------------------------------------------------------------------
@dataclass
class Frame:
    """One SSE frame (or a comment, with ``comment`` set)."""

    event: str = ""
    data: str = ""
    id: str = ""
    comment: str = ""

    def json(self) -> Any:
        """Decode the data as JSON."""
        return json.loads(self.data)


@dataclass
class SSEReader:
    """Reads frames from an aiohttp client response of ``text/event-stream``."""

    response: Any
    frames: list[Frame] = field(default_factory=list)
    ended: bool = False

    async def next(self, timeout: float = 20.0) -> Frame | None:
        """Return the next frame or comment, ``None`` when the stream closed."""
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                self.ended = True
                return None
            line = raw.decode("utf-8").rstrip("\n")
            if line == "":
                if lines:
                    break
                continue
            lines.append(line)
        frame = Frame()
        data: list[str] = []
        for line in lines:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                frame.comment = value
            elif name == "data":
                data.append(value)
            elif name == "event":
                frame.event = value
            elif name == "id":
                frame.id = value
        frame.data = "\n".join(data)
        self.frames.append(frame)
        return frame

    async def until(self, pred: Any, timeout: float = 20.0) -> Frame:
        """Read until a frame satisfies *pred*; fail when the stream ends first."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next(max(0.1, deadline - time.monotonic()))
            if frame is None:
                raise AssertionError("stream ended before the expected frame")
            if pred(frame):
                return frame

    async def rest(self, timeout: float = 30.0) -> list[Frame]:
        """Read to the end of the stream and return the frames read on the way."""
        out: list[Frame] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next(max(0.1, deadline - time.monotonic()))
            if frame is None:
                return out
            out.append(frame)


@pytest.fixture
def sse() -> type[SSEReader]:
    """The :class:`SSEReader` class."""
    return SSEReader


# -- processes: the real CLI, the dashboard --------------------------------------------------------
def free_port() -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CLI:
    """Runs the real ``sparkwing`` command with an isolated environment."""

    home: Path
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` and return the finished process."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.cwd, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Start ``sparkwing ARGS`` without waiting."""
        return subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.cwd, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def dashboard_pid(self) -> int | None:
        """The PID recorded in ``dashboard.pid`` (or ``None``)."""
        try:
            return int((self.home / "dashboard.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[CLI]:
    """The real CLI with a fresh SPARKWING_HOME; any dashboard it started is stopped afterwards."""
    home = tmp_path / "home"
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARKWING_")}
    env.update(
        SPARKWING_HOME=str(home),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        SPARKWING_PROFILES=str(tmp_path / "config" / "sparkwing" / "profiles.yaml"),
        HOME=str(tmp_path),
        NO_COLOR="1",
    )
    runner = CLI(home, env, cwd)
    started: list[int] = []
    yield runner
    pid = runner.dashboard_pid()
    if pid is not None:
        started.append(pid)
    with contextlib.suppress(Exception):
        runner("dashboard", "kill", timeout=30)
    for pid in started:
        _kill_quietly(pid)


@pytest.fixture
def port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_port()


def pid_alive(pid: int) -> bool:
    """True while *pid* exists and is not a zombie."""
    from sparkwing.testing.procs import pid_alive as alive

    return alive(pid)


@pytest.fixture
def alive() -> Any:
    """The :func:`pid_alive` helper."""
    return pid_alive


# -- a project whose pipelines the real `sparkwing run` executes over the `stores` home -------------
@dataclass
class Project:
    """A project directory run with the real CLI against the test's ``sparkwing_home``.

    The environment is the test process's (after ``sparkwing_home`` isolated
    it), so runs land in the same stores as the ``stores`` fixture and the
    in-process dashboard serves them; processes the dashboard starts inherit
    the same environment.
    """

    root: Path
    env: dict[str, str]
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def add_pipeline(self, name: str, code: str) -> None:
        """Write ``.sparkwing/pipelines/<name>.py`` and register it in ``sparkwing.yaml``."""
        import textwrap

        module = name.replace("-", "_")
        pdir = self.root / ".sparkwing" / "pipelines"
        pdir.mkdir(parents=True, exist_ok=True)
        (pdir / "__init__.py").touch()
        (pdir / f"{module}.py").write_text(textwrap.dedent(code).lstrip("\n"))
        yaml = self.root / ".sparkwing" / "sparkwing.yaml"
        text = yaml.read_text() if yaml.exists() else "pipelines:\n"
        yaml.write_text(text + f"  - name: {name}\n    entrypoint: pipelines.{module}:plan\n")

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` in the project and wait for it."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.root, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start ``sparkwing ARGS`` in the project (killed at teardown if still running)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.root, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.procs.append(proc)
        return proc


@pytest.fixture
def project(tmp_path: Path, sparkwing_home: Path) -> Iterator[Project]:
    """An empty project (add pipelines with ``add_pipeline``) sharing the test's stores."""
    root = tmp_path / "project"
    (root / ".sparkwing").mkdir(parents=True)
    env = {**os.environ, "NO_COLOR": "1"}
    proj = Project(root, env)
    yield proj
    for proc in proj.procs:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.communicate(timeout=10)


async def eventually(pred: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll *pred* (sync or async) without blocking the event loop until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def shot() -> Any:
    """``shot(page, name)``: keep a full-page screenshot under test-artifacts/screenshots/."""

    def take(page: Any, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
