"""The dashboard: its schedule loop, ``context.dispatch`` and routes added by trigger sources.

Runs start in real detached ``sparkwing`` processes, as they do for users.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import sparkwing
import sparkwing.plugins.manager as manager
from aiohttp import web
from sparkwing.plugins.manager import PluginHost
from sparkwing.triggers.contracts import RunRequest, TriggerMeta

from .conftest import Project

pytestmark = pytest.mark.asyncio


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


@pytest.fixture
def stores(project: Project) -> Iterator[Any]:
    """The laptop stores of the test's home (what the dashboard serves)."""
    from sparkwing.config import open_stores, resolve_profile

    opened = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
    yield opened
    opened.close()


async def test_the_dashboard_ticks_the_schedules_of_its_project(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    from sparkwing_server.localws.app import make_app
    from sparkwing_server.localws.context import ServerOptions

    project.add("every", on="schedule: [{cron: '* * * * *'}]")
    project.add("never", on="schedule: [{cron: '0 0 1 1 *'}]")
    app = make_app(stores, project_root=project.root,
                   options=ServerOptions(schedule_every_s=0.1))
    await aiohttp_client(app)
    runs = await eventually(lambda: [r for r in project.runs() if r.terminal],
                            what="the scheduled run")
    first = runs[-1]
    assert first.pipeline == "every" and first.status == "success"
    assert first.trigger_source == "schedule"
    minute = first.invocation["trigger"]["extra"]["minute"]
    # a tick from the command line for the same minute starts nothing more
    proc = project.cli("triggers", "tick", "--now", minute, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert '"outcome": "duplicate"' in proc.stdout
    await asyncio.sleep(0.5)  # the loop keeps looking, several times a minute

    def settled() -> bool:  # a minute may have passed meanwhile: let its run finish too
        ran = {r.id for r in project.runs() if r.terminal}
        return all(t.run_id in ran for t in project.triggers(source="schedule"))

    await eventually(settled, what="every scheduled run to finish")
    rows = project.triggers(source="schedule")
    keys = [t.idempotency_key for t in rows]
    assert len(keys) == len(set(keys))  # one row per minute (a minute may pass meanwhile)
    assert {t.pipeline for t in rows} == {"every"}
    assert sorted(t.run_id for t in rows) == sorted(
        r.id for r in project.runs() if r.trigger_source == "schedule")


async def test_a_read_only_dashboard_ticks_nothing(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    from sparkwing_server.localws.app import make_app
    from sparkwing_server.localws.context import ServerOptions

    project.add("every", on="schedule: [{cron: '* * * * *'}]")
    app = make_app(stores, read_only=True, project_root=project.root,
                   options=ServerOptions(schedule_every_s=0.1))
    await aiohttp_client(app)
    await asyncio.sleep(1.0)
    assert project.triggers() == []


async def test_context_dispatch_queues_once_and_a_worker_runs_it(
    aiohttp_client: Any, project: Project, stores: Any,
) -> None:
    from sparkwing_server.localws.app import make_app
    from sparkwing_server.localws.context import CONTEXT_KEY

    project.add("build")
    app = make_app(stores, project_root=project.root)
    await aiohttp_client(app)
    ctx = app[CONTEXT_KEY]
    req = RunRequest(pipeline="build", idempotency_key="delivery-1", workdir=project.root,
                     trigger=TriggerMeta(source="manual", actor="bot"))
    result = await ctx.dispatch(req)
    assert result.created and result.row.status == "pending"
    (run,) = await eventually(lambda: [r for r in project.runs() if r.terminal],
                              what="the worker's run")
    assert run.status == "success" and run.trigger_user == "bot"
    again = await ctx.dispatch(req)
    assert again.duplicate and again.row.id == result.row.id
    assert again.row.status == "done" and again.row.run_id == run.id
    await asyncio.sleep(0.5)
    assert len(project.runs()) == 1


class WebhookSource:
    """A trigger source adding ``POST /hooks/test``: a delivery id is the idempotency key."""

    name = "webhook-test"

    def __init__(self, workdir: Any) -> None:
        self.workdir = workdir

    def add_routes(self, app: web.Application, context: Any) -> None:
        async def receive(request: web.Request) -> web.Response:
            body = await request.json()
            delivery = request.headers["X-Delivery"]
            result = await context.dispatch(RunRequest(
                pipeline=body["pipeline"], idempotency_key=f"webhook-test:{delivery}",
                workdir=self.workdir,
                trigger=TriggerMeta(source=self.name, actor=body["sender"], event="push",
                                    delivery_id=delivery)))
            return web.json_response({"trigger": result.row.id, "created": result.created},
                                     status=202 if result.created else 200)

        app.router.add_post("/hooks/test", receive)


@pytest.fixture
def webhook_plugin(project: Project) -> Iterator[None]:
    """The process's plugin host with a trigger plugin whose source adds a webhook route."""

    def sparkwing_register_triggers(registry: Any) -> None:
        registry.add_trigger_source("webhook-test",
                                    lambda config, context: WebhookSource(project.root))

    module = ModuleType("webhook_test_plugin")
    module.sparkwing_register_triggers = sparkwing.hookimpl(sparkwing_register_triggers)
    saved = manager._HOST
    manager._HOST = PluginHost().load(extra=(module,))
    yield
    manager._HOST = saved


async def test_a_replayed_webhook_starts_one_run(
    aiohttp_client: Any, project: Project, stores: Any, webhook_plugin: None,
) -> None:
    from sparkwing_server.localws.app import make_app
    from sparkwing_server.requestguard import RequestPolicy

    project.add("build")
    # the dashboard's request guard applies to plugin routes too: a program posts with the token
    app = make_app(stores, project_root=project.root, policy=RequestPolicy(token="t0k"))
    client = await aiohttp_client(app)
    auth = {"Authorization": "Bearer t0k"}
    first = await client.post("/hooks/test", json={"pipeline": "build", "sender": "octo"},
                              headers={"X-Delivery": "abc-1", **auth})
    assert first.status == 202
    body = await first.json()
    assert body["created"] is True
    (run,) = await eventually(lambda: [r for r in project.runs() if r.terminal],
                              what="the webhook's run")
    assert (run.trigger_source, run.trigger_user, run.status) == ("webhook-test", "octo",
                                                                  "success")
    assert run.invocation["trigger"]["delivery_id"] == "abc-1"
    replay = await client.post("/hooks/test", json={"pipeline": "build", "sender": "octo"},
                               headers={"X-Delivery": "abc-1", **auth})
    assert replay.status == 200
    assert await replay.json() == {"trigger": body["trigger"], "created": False}
    await asyncio.sleep(0.5)
    assert len(project.runs()) == 1
    (row,) = project.triggers()
    assert (row.source, row.status, row.run_id) == ("webhook-test", "done", run.id)
