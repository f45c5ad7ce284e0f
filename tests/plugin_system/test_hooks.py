"""One test (at least) per hook, each through a plugin that implements it.

``test_docs.py`` fails when a hook specification has no implementation in
some test of this directory; the hooks not exercised elsewhere are here:
executors, trigger sources, server routes, commands of an installed plugin,
and the run observers during a real run (the node observers during a real
run are in ``test_node_observers_in_a_run.py``).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
import sparkwing
from sparkwing.execution.contracts import Attempt, AttemptResult, Executor, ExecutorContext
from sparkwing.plugins import manager
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.registry import Registry
from sparkwing.testing.procs import isolated_env
from sparkwing.triggers.contracts import RunRequest, TriggerContext, TriggerMeta, TriggerSource

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from aiohttp import web
    from conftest import Site
    from sparkwing.plugins.context import ServerContext


def module_with(name: str, **hooks: Any) -> ModuleType:
    """A plugin module whose attributes are the given hook implementations."""
    module = ModuleType(name)
    module.SPARKWING_CONTRACT = 1  # type: ignore[attr-defined]
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, sparkwing.hookimpl(fn))
    return module


# -- sparkwing_register_executors ---------------------------------------------------------


class ArgvExecutor:
    """An executor running ``attempt.settings["argv"]`` as a subprocess (for these tests)."""

    name = "argv"

    def __init__(self, config: Mapping[str, Any], context: ExecutorContext) -> None:
        self.config = dict(config)
        self.context = context
        self.closed = False

    async def run_attempt(self, attempt: Attempt) -> AttemptResult:
        proc = await asyncio.create_subprocess_exec(
            *attempt.settings["argv"], cwd=attempt.workdir, env={**attempt.env, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        code = proc.returncode or 0
        if code:
            return AttemptResult("failed", exit_code=code, error=f"exit status {code}")
        return AttemptResult("success", exit_code=0, output=out.decode().strip())

    async def close(self) -> None:
        self.closed = True


def test_register_executors_provides_a_working_executor(tmp_path: Path) -> None:
    built: list[ArgvExecutor] = []

    def make(config: Mapping[str, Any], context: ExecutorContext) -> ArgvExecutor:
        built.append(ArgvExecutor(config, context))
        return built[-1]

    def sparkwing_register_executors(registry: Registry) -> None:
        registry.add_executor("argv", make, optional=("shell",), description="argv in a process")

    host = PluginHost().load(entry_points=False, extra=(
        module_with("argv_exec", sparkwing_register_executors=sparkwing_register_executors),
    ))
    assert host.infos["argv_exec"].hooks == ["sparkwing_register_executors"]
    host.plugin_infos()
    assert host.infos["argv_exec"].registers["executor"] == ["argv"]
    context = ExecutorContext(home=tmp_path, profile="team", workers=2)
    executor = host.registry.create("executor", {"type": "argv", "shell": "sh"}, context)
    assert isinstance(executor, Executor) and built == [executor]
    assert executor.config == {"type": "argv", "shell": "sh"} and executor.context is context

    def attempt(*argv: str) -> Attempt:
        return Attempt(run_id="run-1", node_id="build", attempt=1, pipeline="p",
                       workdir=tmp_path, env={"GREETING": "hi"}, settings={"argv": argv})

    async def both() -> tuple[AttemptResult, AttemptResult]:
        ok = await executor.run_attempt(attempt("sh", "-c", 'echo "$GREETING"'))
        bad = await executor.run_attempt(attempt("sh", "-c", "exit 3"))
        await executor.close()
        return ok, bad

    ok, bad = asyncio.run(both())
    assert (ok.outcome, ok.exit_code, ok.output) == ("success", 0, "hi")
    assert (bad.outcome, bad.exit_code, bad.error) == ("failed", 3, "exit status 3")
    assert executor.closed


# -- sparkwing_register_triggers ------------------------------------------------------------


class HookSource:
    """A trigger source turning ``POST /hook-source/{pipeline}`` into a run request."""

    name = "hook-source"

    def __init__(self, context: TriggerContext) -> None:
        self.context = context

    def add_routes(self, app: web.Application, context: ServerContext) -> None:
        from aiohttp import web

        async def fire(request: web.Request) -> web.Response:
            run_request = RunRequest(
                pipeline=request.match_info["pipeline"],
                trigger=TriggerMeta(source=self.name, event="post",
                                    delivery_id=request.headers["X-Delivery"]),
                idempotency_key=f"{self.name}:{request.headers['X-Delivery']}",
            )
            return web.json_response({"dispatched": await context.dispatch(run_request)})

        app.router.add_post("/hook-source/{pipeline}", fire)


class RecordingServer:
    """The part of a sparkwing server a trigger route uses (``dispatch``), recording requests."""

    def __init__(self) -> None:
        self.requests: list[RunRequest] = []

    async def dispatch(self, request: RunRequest) -> str:
        self.requests.append(request)
        return f"recorded {request.idempotency_key}"


@pytest.mark.asyncio
async def test_register_triggers_provides_a_source_whose_route_dispatches(
    aiohttp_client: Any, tmp_path: Path,
) -> None:
    from aiohttp import web

    def sparkwing_register_triggers(registry: Registry) -> None:
        registry.add_trigger_source("hook-source", lambda config, context: HookSource(context))

    host = PluginHost().load(entry_points=False, extra=(
        module_with("hook_triggers", sparkwing_register_triggers=sparkwing_register_triggers),
    ))
    host.plugin_infos()
    assert host.infos["hook_triggers"].registers["trigger"] == ["hook-source"]
    source = host.registry.create("trigger", {"type": "hook-source"},
                                  TriggerContext(home=tmp_path))
    assert isinstance(source, TriggerSource) and source.name == "hook-source"
    server = RecordingServer()
    app = web.Application()
    source.add_routes(app, server)  # type: ignore[arg-type]
    client = await aiohttp_client(app)
    response = await client.post("/hook-source/release", headers={"X-Delivery": "d-7"})
    assert response.status == 200
    assert await response.json() == {"dispatched": "recorded hook-source:d-7"}
    (request,) = server.requests
    assert (request.pipeline, request.trigger.source, request.trigger.delivery_id) == (
        "release", "hook-source", "d-7",
    )


# -- sparkwing_add_server_routes ------------------------------------------------------------


@pytest.mark.asyncio
async def test_add_server_routes_reaches_the_dashboard_with_its_context(
    aiohttp_client: Any, sparkwing_home: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiohttp import web
    from sparkwing.config import open_stores, resolve_profile
    from sparkwing_server.localws.app import make_app

    seen: list[Any] = []

    def sparkwing_add_server_routes(app: web.Application, context: Any) -> None:
        seen.append(context)

        async def runs(request: web.Request) -> web.Response:
            return web.json_response({"runs": len(context.state.list_runs()),
                                      "profile": context.profile_name})

        app.router.add_get("/hooks-test/runs", runs)

    host = PluginHost().load(extra=(
        module_with("routes_plugin", sparkwing_add_server_routes=sparkwing_add_server_routes),
    ))
    monkeypatch.setattr(manager, "_HOST", host)
    stores = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    try:
        client = await aiohttp_client(make_app(stores, read_only=True))
        response = await client.get("/hooks-test/runs")
        assert response.status == 200
        assert await response.json() == {"runs": 0, "profile": "laptop"}
    finally:
        stores.close()
    assert len(seen) == 1 and seen[0].state is stores.state and seen[0].logs is stores.logs
    assert host.infos["routes_plugin"].adds_routes


# -- observers during a real run -------------------------------------------------------------

OBSERVER = """
import json, os

import sparkwing

SPARKWING_CONTRACT = 1


def _note(**fields):
    with open(os.environ["SPARKWING_TEST_OBSERVED"], "a") as f:
        f.write(json.dumps(fields) + "\\n")


@sparkwing.hookimpl
def sparkwing_run_started(run):
    _note(hook="run_started", run=run.id, status=run.status)


@sparkwing.hookimpl
def sparkwing_run_finished(run):
    _note(hook="run_finished", run=run.id, status=run.status)


@sparkwing.hookimpl
def sparkwing_node_started(run, node):
    _note(hook="node_started", run=run.id, node=node.node_id, status=node.status)


@sparkwing.hookimpl
def sparkwing_node_finished(run, node):
    _note(hook="node_finished", run=run.id, node=node.node_id, outcome=node.outcome)
"""

COMMAND = """
import sparkwing

SPARKWING_CONTRACT = 1


@sparkwing.hookimpl
def sparkwing_add_cli_commands(cli):
    import click

    @click.command("observer-ping")
    def ping():
        click.echo("pong")

    cli.add_command(ping)
"""

PIPELINE = """
import sparkwing as sw


def plan(plan, inputs, run):
    build = plan.job("build", sw.sh("echo building"))
    plan.job("broken", sw.sh("exit 4")).needs(build)
"""


@pytest.fixture
def observed_run(tmp_path: Path, site: Site) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    """``sparkwing run obs`` with an installed observer plugin; its notes and the process."""
    site("sparkwing-observer", "1.2.0", {"observer": "sw_hooks_observer"},
         {"sw_hooks_observer": OBSERVER})
    root = tmp_path / "repo"
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "pipelines" / "obs.py").write_text(PIPELINE)
    (root / ".sparkwing" / "sparkwing.yaml").write_text(
        "pipelines:\n  - name: obs\n    entrypoint: pipelines.obs:plan\n"
    )
    notes = tmp_path / "observed.ndjson"
    proc = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "run", "obs", "-o", "json"], cwd=root,
        capture_output=True, text=True, timeout=120,
        env=isolated_env(tmp_path, PYTHONPATH=str(site.root), SPARKWING_TEST_OBSERVED=str(notes)),
    )
    lines = notes.read_text().splitlines() if notes.exists() else []
    return [json.loads(line) for line in lines], proc


def test_run_observers_see_the_run_start_and_finish(observed_run: Any) -> None:
    notes, proc = observed_run
    assert proc.returncode == 1, proc.stderr  # the "broken" job fails the run
    runs = [n for n in notes if n["hook"].startswith("run_")]
    assert [(n["hook"], n["status"]) for n in runs] == [
        ("run_started", "running"), ("run_finished", "failed"),
    ]
    assert runs[0]["run"] == runs[1]["run"]


def test_add_cli_commands_from_an_installed_plugin(tmp_path: Path, site: Site) -> None:
    site("sparkwing-pinger", "1.2.0", {"pinger": "sw_hooks_pinger"},
         {"sw_hooks_pinger": COMMAND})
    proc = subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "observer-ping"], cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
        env=isolated_env(tmp_path, PYTHONPATH=str(site.root)),
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "pong\n", "")
