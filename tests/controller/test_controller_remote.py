"""Runs recorded in a controller: profiles with ``controller:``, the logs service and its SSE tail.

* end to end: ``controller serve`` in a subprocess with a runner token;
  another home runs the examples with a profile that is only
  ``controller: {url, token_env}``; a third home (a user token) lists them,
  reads their logs and sees them in its dashboard; the controller's own home
  shows them with ``sparkwing runs``;
* one-line errors for an unreachable controller, a refused token, a
  missing scope and a bad URL;
* the logs service: filters, SSE tail (ends when the node finishes,
  resumes from ``Last-Event-ID``) and strict bodies.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sparkwing.storage.controller.logs import ControllerLogStore
from sparkwing.storage.controller.state import ControllerStateStore
from sparkwing.storage.logrecord import make_record
from sparkwing.storage.records import Node, Run
from sparkwing.testing.teamhomes import (
    EXAMPLE_RUNS,
    assert_examples_run_and_show_from,
    copy_example,
    make_home,
)

from .conftest import serve_in_thread

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _profiles(url: str, env: str = "TEAM_TOKEN") -> str:
    return f'profiles:\n  team:\n    controller: {{url: "{url}", token_env: {env}}}\n'


def _one_line(proc: Any) -> str:
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_examples_run_against_a_controller(controller: Any, tmp_path: Path) -> None:
    runner = controller.token("runner", "box-1", "runner")
    reader = controller.token("user", "ada", "runs.read,logs.read")
    url = controller.start("--require-auth")
    a = make_home(tmp_path, "a", _profiles(url), TEAM_TOKEN=runner)
    b = make_home(tmp_path, "b", _profiles(url), TEAM_TOKEN=reader)
    shown = b.cli("profile", "--profile", "team", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    profile = json.loads(shown.stdout)
    assert profile["state"]["type"] == profile["logs"]["type"] == "controller"
    assert profile["cache"]["type"] == "controller"

    assert_examples_run_and_show_from(a, b, EXAMPLES)

    # The controller's own home holds the runs: plain `sparkwing runs` there shows them.
    listed = controller.cli("runs", "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    runs = [json.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(r["pipeline"] for r in runs) == sorted(args[0] for args in
                                                         EXAMPLE_RUNS.values())
    assert {r["status"] for r in runs} == {"success"}
    ci = next(r["id"] for r in runs if r["pipeline"] == "ci")
    status = controller.cli("runs", "status", "--run", ci, "-o", "json")
    assert status.returncode == 0 and '"success"' in status.stdout, status.stderr
    logs = controller.cli("runs", "logs", "--run", ci, "-o", "json")
    assert logs.returncode == 0, logs.stderr
    records = [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]
    assert {"lint", "test", "build", "smoke"} <= {r.get("node") for r in records}
    assert any(r.get("event") == "run_finish" for r in records)


def test_errors_are_one_line(controller: Any, tmp_path: Path) -> None:
    reader = controller.token("user", "ada", "runs.read")
    url = controller.start("--require-auth")
    project_base = tmp_path / "projects"

    def run_with(name: str, profiles: str, **env: str) -> Any:
        home = make_home(tmp_path, name, profiles, **env)
        project = copy_example(EXAMPLES, "python-ci", project_base / name)
        return home.cli("run", "ci", "--profile", "team", cwd=project)

    missing = _one_line(run_with("scope", _profiles(url), TEAM_TOKEN=reader))
    assert "lacks scope 'runs.report'" in missing and url in missing and "user:ada" in missing
    refused = _one_line(run_with("bad", _profiles(url), TEAM_TOKEN="swu_" + "A" * 43))
    assert "refused the token from $TEAM_TOKEN" in refused
    unset = _one_line(run_with("unset", _profiles(url)))
    assert "needs a token" in unset and "$TEAM_TOKEN" in unset
    port = urlsplit(url).port
    controller.stop()
    down = _one_line(run_with("down", _profiles(f"http://127.0.0.1:{port}"), TEAM_TOKEN=reader))
    assert f"controller http://127.0.0.1:{port} is unreachable" in down
    bad = run_with("badurl", _profiles("http://:99x"), TEAM_TOKEN=reader)
    assert bad.returncode == 2, bad.stderr
    assert "controller url 'http://:99x'" in _one_line(bad)


# -- the logs service over an in-process controller ---------------------------------------------

@pytest.fixture
def served(sparkwing_home: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A controller from a thread (auth on), a runner token and a reading token."""
    from sparkwing_server.localws.serve import open_profile_stores

    work = tmp_path / "work"
    work.mkdir()
    with serve_in_thread(open_profile_stores(None, work), ("runner", "box-1", ["runner"]),
                         ("user", "ada", ["runs.read", "logs.read"])) as (url, raws):
        yield {"url": url, "runner": raws[0], "reader": raws[1]}


def _request(url: str, method: str, path: str, token: str, body: Any = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    hdrs = {"Authorization": f"Bearer {token}", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    return resp.status, json.loads(raw) if raw else None


def _sse(url: str, path: str, token: str, last_id: str = "") -> list[tuple[str, str, str]]:
    """Read an SSE answer to its end: ``(event, id, data)`` per event."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    if last_id:
        headers["Last-Event-ID"] = last_id
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    events: list[tuple[str, str, str]] = []
    event, ident, data = "message", "", ""
    for raw in resp:
        line = raw.decode("utf-8").rstrip("\n")
        if not line:
            if data:
                events.append((event, ident, data))
            event, ident, data = "message", "", ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        if name == "event":
            event = value
        elif name == "id":
            ident = value
        elif name == "data":
            data = value
    conn.close()
    return events


def _started_run(state: ControllerStateStore) -> str:
    from sparkwing.ids import new_run_id

    run_id = new_run_id()
    state.create_run(Run(id=run_id, pipeline="ci", status="running", created_at=time.time()))
    state.create_nodes(run_id, [Node(run_id, "build/linux", status="running")])
    return run_id


def test_sse_tail_follows_until_the_node_finishes_and_resumes(served: dict[str, Any]) -> None:
    url = served["url"]
    state = ControllerStateStore(url, token=served["runner"])
    logs = ControllerLogStore(url, token=served["runner"])
    run_id = _started_run(state)
    recs = [make_record(f"line {i}", node="build/linux", ts=1_800_000_000 + i) for i in range(40)]
    logs.append(run_id, "build/linux", recs[:10])
    got: list[list[tuple[str, str, str]]] = []
    path = f"/api/v1/logs/{run_id}/stream?node=build%2Flinux"
    reader = threading.Thread(target=lambda: got.append(_sse(url, path, served["reader"])))
    reader.start()
    writer = logs.writer(run_id, "build/linux")
    for rec in recs[10:]:
        writer.write([rec])
        writer.flush()
    writer.close()
    state.update_node(run_id, "build/linux", {"status": "done", "outcome": "success"})
    reader.join(120)
    assert not reader.is_alive(), "the SSE tail did not end after the node finished"
    events = got[0]
    assert [d for e, _, d in events if e == "message"] == recs
    assert events[-1][0] == "end"
    assert json.loads(events[-1][2]) == {"reason": "finished", "status": "success"}
    # Resuming from an id the stream sent gives exactly what came after it.
    ids = [(i, ident) for i, (e, ident, _) in enumerate(events) if e == "message" and ident]
    assert ids, "no event carried an id"
    index, ident = ids[0]
    again = _sse(url, path, served["reader"], last_id=ident)
    assert [d for e, _, d in again if e == "message"] == recs[index + 1:]
    # The envelope's stream ends when the run does.
    logs.append(run_id, "", [make_record("run started", ts=1.0)])
    state.update_run(run_id, {"status": "success", "finished_at": time.time()})
    env = _sse(url, f"/api/v1/logs/{run_id}/stream?node=", served["reader"])
    assert [e for e, _, _ in env] == ["message", "end"]
    state.close()
    logs.close()


def test_log_reads_filter_and_tail(served: dict[str, Any]) -> None:
    url = served["url"]
    state = ControllerStateStore(url, token=served["runner"])
    logs = ControllerLogStore(url, token=served["runner"])
    run_id = _started_run(state)
    recs = [make_record(f"step {i} {'boom' if i % 5 == 0 else 'ok'}", node="n",
                        level="error" if i % 5 == 0 else "info", ts=float(i)) for i in range(50)]
    logs.append(run_id, "n", recs)
    token = served["reader"]
    base = f"/api/v1/logs/{run_id}"
    status, errors = _request(url, "GET", f"{base}/lines?node=n&level=error&limit=3", token)
    assert status == 200 and errors["lines"] == [recs[0], recs[5], recs[10]]
    status, rest = _request(url, "GET", f"{base}/lines?node=n&level=error&offset="
                                        f"{errors['next_offset']}", token)
    assert rest["lines"] == [recs[i] for i in range(15, 50, 5)]
    status, grep = _request(url, "GET", f"{base}/lines?node=n&grep=step%204", token)
    assert grep["lines"] == [recs[4], *recs[40:50]]
    status, regex = _request(url, "GET", f"{base}/lines?node=n&regex=%5Estep%20(7%7C8)%20", token)
    assert regex["lines"] == [recs[7], recs[8]]
    status, bad = _request(url, "GET", f"{base}/lines?node=n&regex=(", token)
    assert status == 400 and bad["field"] == "regex"
    status, tail = _request(url, "GET", f"{base}/tail?node=n&n=2", token)
    assert tail["lines"] == recs[-2:]
    status, listed = _request(url, "GET", base, token)
    assert listed == {"run_id": run_id, "streams": ["n"]}
    # The reading token cannot write logs; the runner token cannot delete runs.
    status, denied = _request(url, "POST", f"{base}/lines", token, {"node": "n", "text": ""})
    assert status == 403 and denied["missing_scope"] == "logs.write"
    status, denied = _request(url, "DELETE", f"/api/v1/runs/{run_id}", served["runner"])
    assert status == 403 and denied["missing_scope"] == "runs.write"
    state.close()
    logs.close()


def test_state_routes_refuse_unknown_fields(served: dict[str, Any]) -> None:
    url, token = served["url"], served["runner"]
    status, err = _request(url, "POST", "/api/v1/runs", token,
                           {"id": "run-1", "pipeline": "ci", "plan_admission": 1})
    assert status == 400 and err["error"] == "unknown_field" and err["field"] == "plan_admission"
    status, err = _request(url, "POST", "/api/v1/state/writes", token,
                           {"writes": [{"run_id": "run-1", "event": {"kind": "x", "seqq": 1}}]})
    assert status == 400 and err["field"] == "writes[0].event.seqq"
    status, err = _request(url, "POST", "/api/v1/logs/run-1/lines", token,
                           {"node": "n", "text": "{}\n", "claim_seq": 3})
    assert status == 400 and err["field"] == "claim_seq"
    status, err = _request(url, "POST", "/api/v1/logs/run-1/lines", token,
                           {"node": "n", "text": "{}"})
    assert status == 400 and err["field"] == "text"


def test_people_approve_as_themselves(served: dict[str, Any], sparkwing_home: Path) -> None:
    from sparkwing.storage.records import Approval

    url = served["url"]
    state = ControllerStateStore(url, token=served["runner"])
    run_id = _started_run(state)
    state.create_approval(Approval(run_id, "build/linux", requested_at=time.time()))
    from sparkwing_server.controller.tokens import open_token_store
    from sparkwing_server.localws.serve import open_profile_stores

    stores = open_profile_stores(None, sparkwing_home)
    tokens = open_token_store(stores)
    approver, _ = tokens.create("user", "grace", ["approvals.write"])
    tokens.close()
    stores.close()
    person = ControllerStateStore(url, token=approver)
    assert person.resolve_approval(run_id, "build/linux", "approved", "somebody-else", "lgtm",
                                   time.time())
    got = state.get_approval(run_id, "build/linux")
    assert got is not None and got.approver == "user:grace" and got.comment == "lgtm"
    person.close()
    state.close()


# -- the client's connections: reuse and retries -------------------------------------------------

class _Scripted:
    """A raw HTTP/1.1 server on loopback: counts connections, drops the first *drop* requests.

    A dropped request is read whole and its connection closed without an
    answer (what a controller restarting mid-request looks like); every
    other request gets ``{"run": null}`` with keep-alive.
    """

    def __init__(self, drop: int = 0) -> None:
        import socket

        self.drop = drop
        self.connections = 0
        self.requests: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        reader = conn.makefile("rb")
        with conn:
            while True:
                line = reader.readline()
                if not line:
                    return
                headers: dict[str, str] = {}
                while (h := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                reader.read(int(headers.get("content-length", "0")))
                self.requests.append(line.decode().split()[0])
                if self.drop > 0:
                    self.drop -= 1
                    return
                body = b'{"run":null}'
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self.sock.close()


def test_the_client_keeps_connections_alive() -> None:
    server = _Scripted()
    try:
        store = ControllerStateStore(server.url)
        for _ in range(5):
            assert store.get_run("run-x") is None
        assert server.requests == ["GET"] * 5
        assert server.connections == 1
        store.close()
    finally:
        server.close()


def test_idempotent_calls_are_retried_and_others_are_not() -> None:
    from sparkwing.errors import StoreError

    server = _Scripted(drop=2)
    try:
        store = ControllerStateStore(server.url)
        assert store.get_run("run-x") is None  # dropped twice, answered the third time
        assert server.requests == ["GET"] * 3
        server.drop = 1
        with pytest.raises(StoreError, match="is unreachable"):
            store.append_event("run-x", "custom", {})
        assert server.requests == ["GET"] * 3 + ["POST"]  # sent once, not repeated
        store.close()
    finally:
        server.close()


def test_a_profile_with_only_a_controller_keeps_state_cache_and_logs_there(
    sparkwing_home: Path,
) -> None:
    import os

    from sparkwing.config import load_user_profiles

    path = Path(os.environ["SPARKWING_PROFILES"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "profiles:\n"
        "  team:\n"
        "    controller: {url: 'http://ci:4344', token_env: CI_TOKEN}\n"
        "  mixed:\n"
        "    controller: {url: 'http://ci:4344', token_env: CI_TOKEN}\n"
        "    cache: {type: filesystem, path: /tmp/c}\n")
    profiles = load_user_profiles()
    team = profiles["team"]
    block = {"type": "controller", "url": "http://ci:4344", "token_env": "CI_TOKEN"}
    assert team.state == block and team.logs == block and team.cache == block
    assert team.defaulted == ()
    assert team.where("state").endswith('profile "team": state')
    mixed = profiles["mixed"]  # an explicit cache wins, and no surface is implied
    assert mixed.cache == {"type": "filesystem", "path": "/tmp/c"}
    assert mixed.state["type"] == "sqlite" and mixed.logs["type"] == "filesystem"
    assert mixed.defaulted == ("state", "logs")


def test_large_batches_are_cut_under_the_body_limit(served: dict[str, Any]) -> None:
    from sparkwing.storage.contracts import StateWrite

    url = served["url"]
    state = ControllerStateStore(url, token=served["runner"])
    logs = ControllerLogStore(url, token=served["runner"])
    run_id = _started_run(state)
    # ~5 MiB of records, mostly 3-byte characters and quotes (which JSON escapes again)
    recs = [make_record(f'日本語 "{i}" ' * 40, node="n", ts=float(i)) for i in range(6000)]
    writer = logs.writer(run_id, "n")
    writer.write(recs)
    writer.close()
    reader = ControllerLogStore(url, token=served["reader"])
    assert reader.read(run_id, "n").lines == recs
    reader.close()
    # A journal batch past the body limit goes out in parts, in order.
    big = [StateWrite(run_id, "build/linux", event=("custom", {"blob": "ü" * 2000, "i": i}))
           for i in range(1200)]
    state.write_batch(big)
    events = [e for e in state.list_events(run_id, limit=5000) if e.kind == "custom"]
    assert [e.payload["i"] for e in events] == list(range(1200))
    state.close()
    logs.close()
