"""Live updates through LISTEN/NOTIFY: the change feed, and the dashboard streams it wakes."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from sparkwing import events
from sparkwing.storage.fs_logs import FilesystemLogStore
from sparkwing.storage.records import Node, Run
from sparkwing.testing.procs import wait_for
from sparkwing_postgres.notify import LISTENER_NAME, channel_name
from sparkwing_postgres.store import PostgresStateStore


class Collected:
    """Payloads a feed delivered, readable from the test thread."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, payload: str) -> None:
        with self.lock:
            self.items.append(payload)

    def has(self, payload: str) -> bool:
        with self.lock:
            return payload in self.items


def test_writes_notify_the_feed_and_it_survives_a_dropped_connection(
    pg_config: dict[str, Any],
) -> None:
    with PostgresStateStore.from_config(pg_config) as store, \
            PostgresStateStore.from_config(pg_config) as writer:
        feed = store.change_feed()
        assert feed is not None and feed.channel == channel_name(pg_config["schema"])
        got = Collected()
        feed.start(got)
        try:
            wait_for(lambda: feed.live, timeout=30)
            writer.create_run(Run(id="run-1", pipeline="p"))
            writer.create_nodes("run-1", [Node("run-1", "a")])
            writer.update_node("run-1", "a", {"status": "running"}, event=("node_started", {}))
            writer.update_run("run-1", {"status": "running"})
            wait_for(lambda: got.has("run:run-1") and got.has("event:run-1"), timeout=30)
            # the listening session is killed: the feed reconnects and resyncs with ""
            with psycopg.connect(pg_config["url"], autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s", (LISTENER_NAME,)).fetchall()
            assert killed == [(True,)]
            wait_for(lambda: feed.reconnects >= 1 and feed.live, timeout=60)
            writer.append_event("run-1", "after", {})
            wait_for(lambda: got.items.count("event:run-1") >= 2, timeout=30)
            assert got.items.count("") >= 2  # once per (re)connection
        finally:
            feed.close()
        assert not feed.live


def test_notify_false_sends_and_listens_for_nothing(pg_config: dict[str, Any]) -> None:
    with PostgresStateStore.from_config({**pg_config, "notify": False}) as store, \
            psycopg.connect(pg_config["url"], autocommit=True) as listener:
        assert store.change_feed() is None
        listener.execute(f"LISTEN {channel_name(pg_config['schema'])}")
        store.create_run(Run(id="run-quiet", pipeline="p"))
        store.append_event("run-quiet", "k", {})
        assert list(listener.notifies(timeout=1.0)) == []


async def _next_runs_frame(response: Any, timeout: float) -> list[str]:
    """Read SSE lines until a runs-page frame; return its run ids."""
    event = ""
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(response.content.readline(),
                                     max(0.1, deadline - time.monotonic()))
        line = raw.decode().rstrip("\n")
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event == events.STREAM_RUNS_PAGE:
            page = json.loads(line.split(":", 1)[1])
            return [r["id"] for r in page["runs"]]
        elif line == "":
            event = ""


@pytest.mark.asyncio
@pytest.mark.parametrize("notify", [True, False])
async def test_dashboard_runs_stream_wakes_on_notify_else_polls(
    aiohttp_client: Any, tmp_path: Path, pg_config: dict[str, Any], notify: bool,
) -> None:
    from sparkwing_server.localws.app import make_app
    from sparkwing_server.localws.context import ServerOptions

    class Stores:
        def __init__(self) -> None:
            self.state = PostgresStateStore.from_config({**pg_config, "notify": notify})
            self.logs = FilesystemLogStore(tmp_path / "runs")
            self.resolved = SimpleNamespace(name="team")

    stores = Stores()
    # With notifications the streams would only poll every 60 s: a new run can only show up
    # within the test's 20 s through NOTIFY. Without them the usual short poll applies.
    options = (ServerOptions(runs_poll_s=60.0, events_poll_s=60.0, notify_poll_s=60.0,
                             reconcile_every_s=0)
               if notify else ServerOptions(runs_poll_s=0.2, reconcile_every_s=0))
    app = make_app(stores, options=options)
    client = await aiohttp_client(app)
    from sparkwing_server.localws.context import CONTEXT_KEY

    ctx = app[CONTEXT_KEY]
    try:
        deadline = time.monotonic() + 30
        while notify and not ctx.changes.live and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert ctx.changes.live is notify
        response = await client.get("/api/v1/runs/stream")
        assert response.status == 200
        assert await _next_runs_frame(response, 20) == []
        with PostgresStateStore.from_config(pg_config) as other:  # another runner, elsewhere
            other.create_run(Run(id="run-from-elsewhere", pipeline="p", created_at=time.time()))
        assert await _next_runs_frame(response, 20) == ["run-from-elsewhere"]
        response.close()
    finally:
        await client.close()
        stores.state.close()
