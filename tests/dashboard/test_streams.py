"""Live streams (SSE): run events with resume and termination, node logs, the runs list."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

pytestmark = pytest.mark.asyncio


def later(delay: float, fn: Any, *args: Any, **kwargs: Any) -> threading.Thread:
    """Call *fn* on another thread after *delay* seconds (a writer process stand-in)."""

    def run() -> None:
        time.sleep(delay)
        fn(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


async def open_stream(client: Any, path: str, sse: Any, **headers: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    reader = sse(response)
    first = await reader.next()
    assert first is not None and first.comment == "open"
    return reader


async def test_events_stream_frames_and_end_when_run_is_terminal(client: Any, rec: Any,
                                                                  sse: Any) -> None:
    run = rec.run(status="running")
    rec.event(run.id, "run_started", pipeline="build")
    rec.event(run.id, "node_started", "compile")
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/events/stream", sse)

    first = await reader.next()
    assert (first.id, first.event) == ("1", "run_started")
    assert first.json() == {"run_id": run.id, "seq": 1, "node_id": "", "kind": "run_started",
                            "ts": first.json()["ts"], "payload": {"pipeline": "build"}}
    second = await reader.next()
    assert (second.id, second.event, second.json()["node_id"]) == ("2", "node_started", "compile")

    def finish() -> None:
        rec.event(run.id, "node_succeeded", "compile")
        rec.finish(run.id)
        rec.event(run.id, "run_finished", status="success")

    later(0.3, finish)
    rest = await reader.rest()
    kinds = [f.event for f in rest if not f.comment]
    assert kinds == ["node_succeeded", "run_finished", "stream_end"]
    assert [f.id for f in rest if f.event != "stream_end" and not f.comment] == ["3", "4"]
    assert reader.ended


async def test_events_stream_stays_open_while_the_run_is_live(client: Any, rec: Any,
                                                               sse: Any) -> None:
    run = rec.run(status="running")
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/events/stream", sse)
    with pytest.raises(asyncio.TimeoutError):
        await reader.next(timeout=1.5)  # nothing to say yet, and no end
    rec.event(run.id, "node_started", "a")
    frame = await reader.until(lambda f: f.event == "node_started")
    assert frame.id == "1"


async def test_events_stream_resumes_after_last_event_id(client: Any, rec: Any, sse: Any) -> None:
    run = rec.run(status="success")
    for i in range(1, 8):
        rec.event(run.id, "tick", n=i)
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/events/stream", sse,
                               **{"Last-Event-ID": "4"})
    frames = [f for f in await reader.rest() if not f.comment]
    assert [f.id for f in frames] == ["5", "6", "7", ""]
    assert [f.json()["payload"]["n"] for f in frames[:-1]] == [5, 6, 7]
    assert frames[-1].event == "stream_end" and frames[-1].data == "{}"

    by_query = await open_stream(client, f"/api/v1/runs/{run.id}/events/stream?after=6", sse)
    assert [f.id for f in await by_query.rest() if not f.comment] == ["7", ""]


async def test_events_stream_pages_through_many_events(client: Any, rec: Any, sse: Any) -> None:
    run = rec.run(status="failed")
    for i in range(1203):
        rec.event(run.id, "tick", n=i)
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/events/stream", sse)
    frames = [f for f in await reader.rest() if not f.comment]
    assert [int(f.id) for f in frames[:-1]] == list(range(1, 1204))
    assert frames[-1].event == "stream_end"


async def test_events_stream_of_unknown_run_is_404(client: Any) -> None:
    response = await client.get("/api/v1/runs/run-20990101-000000-00000000/events/stream")
    assert response.status == 404


async def test_keepalive_comments_on_idle_streams(aiohttp_client: Any, stores: Any, rec: Any,
                                                  sse: Any) -> None:
    from sparkwing_server.localws.app import make_app
    from sparkwing_server.localws.context import ServerOptions

    client = await aiohttp_client(make_app(stores, options=ServerOptions(keepalive_s=0.2)))
    run = rec.run(status="running")
    rec.nodes(run.id, "a")
    events = await open_stream(client, f"/api/v1/runs/{run.id}/events/stream", sse)
    assert (await events.next()).comment == "keepalive"
    logs = await open_stream(client, f"/api/v1/runs/{run.id}/logs/a/stream", sse)
    assert (await logs.next()).comment == "keepalive"


async def test_log_stream_delivers_lines_as_written_and_ends_when_job_is_done(
        client: Any, rec: Any, sse: Any) -> None:
    run = rec.run(status="running")
    rec.nodes(run.id, "build/linux")
    rec.state.update_node(run.id, "build/linux", {"status": "running"})
    rec.log(run.id, "build/linux", "first")
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/logs/build/linux/stream", sse)
    frame = await reader.next()
    assert json.loads(frame.data)["msg"] == "first" and int(frame.id) > 0

    writer = rec.logs.writer(run.id, "build/linux")
    from sparkwing.storage.logrecord import make_record

    for i in range(3):
        writer.write([make_record(f"live {i}", node="build/linux", event="exec_line")])
        writer.flush()
        got = await reader.until(lambda f: not f.comment)
        assert json.loads(got.data)["msg"] == f"live {i}"
    writer.close()
    with pytest.raises(asyncio.TimeoutError):
        await reader.next(timeout=1.0)  # the job still runs: no end yet
    rec.log(run.id, "build/linux", "last words")
    rec.state.update_node(run.id, "build/linux", {"status": "done", "outcome": "success"})
    rest = [f for f in await reader.rest() if not f.comment]
    assert [json.loads(f.data).get("msg") for f in rest[:-1]] == ["last words"]
    assert rest[-1].event == "stream_end"


async def test_log_stream_resumes_from_offset_and_starts_from_tail(client: Any, rec: Any,
                                                                   sse: Any) -> None:
    run = rec.run(status="success")
    rec.nodes(run.id, "a")
    rec.state.update_node(run.id, "a", {"status": "done", "outcome": "success"})
    rec.log(run.id, "a", "one", "two")
    first = await open_stream(client, f"/api/v1/runs/{run.id}/logs/a/stream", sse)
    frames = [f for f in await first.rest() if not f.comment]
    assert [json.loads(f.data)["msg"] for f in frames[:-1]] == ["one", "two"]
    offset = frames[-2].id
    assert frames[0].id == "" and offset  # the batch's last frame carries the resume point

    rec.log(run.id, "a", "three")
    resumed = await open_stream(client, f"/api/v1/runs/{run.id}/logs/a/stream", sse,
                                **{"Last-Event-ID": offset})
    frames = [f for f in await resumed.rest() if not f.comment]
    assert [json.loads(f.data)["msg"] for f in frames[:-1]] == ["three"]

    tail = await open_stream(client, f"/api/v1/runs/{run.id}/logs/a/stream?tail=2", sse)
    frames = [f for f in await tail.rest() if not f.comment]
    assert [json.loads(f.data)["msg"] for f in frames[:-1]] == ["two", "three"]


async def test_envelope_stream_ends_with_the_run(client: Any, rec: Any, sse: Any) -> None:
    run = rec.run(status="running")
    rec.log(run.id, "", "run started", event="run_start")
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/logs/_envelope/stream", sse)
    assert json.loads((await reader.next()).data)["event"] == "run_start"
    later(0.3, rec.finish, run.id)
    assert [f.event for f in await reader.rest() if not f.comment] == ["stream_end"]


async def test_runs_stream_pushes_the_list_when_it_changes(client: Any, rec: Any,
                                                           sse: Any) -> None:
    old = rec.run("build", status="success")
    rec.run("deploy", status="success")
    reader = await open_stream(client, "/api/v1/runs/stream?pipeline=build", sse)
    first = await reader.next()
    assert first.event == "runs_page" and [r["id"] for r in first.json()["runs"]] == [old.id]
    new = rec.run("build", status="running")
    changed = await reader.until(lambda f: f.event == "runs_page")
    assert [r["id"] for r in changed.json()["runs"]] == [new.id, old.id]
    rec.finish(new.id)
    flipped = await reader.until(lambda f: f.event == "runs_page")
    assert flipped.json()["runs"][0]["status"] == "success"


async def test_log_stream_tail_of_a_long_log(client: Any, rec: Any, sse: Any) -> None:
    run = rec.run(status="success")
    rec.nodes(run.id, "big")
    rec.state.update_node(run.id, "big", {"status": "done", "outcome": "success"})
    rec.log(run.id, "big", *(f"n{i}" for i in range(12_345)))
    reader = await open_stream(client, f"/api/v1/runs/{run.id}/logs/big/stream?tail=3", sse)
    frames = [f for f in await reader.rest() if not f.comment]
    assert [json.loads(f.data)["msg"] for f in frames[:-1]] == ["n12342", "n12343", "n12344"]
    rec.log(run.id, "big", "after")
    resumed = await open_stream(client, f"/api/v1/runs/{run.id}/logs/big/stream", sse,
                                **{"Last-Event-ID": frames[-2].id})
    assert [json.loads(f.data)["msg"] for f in await resumed.rest()
            if not f.comment and f.event != "stream_end"] == ["after"]
