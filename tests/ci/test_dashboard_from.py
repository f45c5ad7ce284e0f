"""``sparkwing dashboard start --read-only --from DIR``: the real server over a record directory."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import Machine, tree

GITHUB = {
    "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/widgets",
    "GITHUB_REF": "refs/pull/42/merge", "GITHUB_REF_NAME": "42/merge",
    "GITHUB_HEAD_REF": "feature-x", "GITHUB_RUN_ID": "7001", "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_SERVER_URL": "https://github.com", "GITHUB_ACTOR": "octo",
}
SAFE = {"GET", "HEAD", "OPTIONS", "*"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            raw = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(raw) if "json" in kind else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def mutating_routes(record: Path) -> list[tuple[str, str]]:
    """Every (method, path pattern) the dashboard app over *record* answers that is not a read."""
    from sparkwing.config import open_stores, resolve_record_dir
    from sparkwing_server.localws.app import make_app

    stores = open_stores(resolve_record_dir(record, flag="--from", read_only=True))
    try:
        app = make_app(stores, read_only=True)
        found = []
        for route in app.router.routes():
            if route.method in SAFE:
                continue
            info = route.resource.get_info() if route.resource is not None else {}
            found.append((route.method, str(info.get("formatter") or info.get("path"))))
        return sorted(set(found))
    finally:
        stores.close()


@pytest.fixture
def recorded(machine: Machine, tmp_path: Path) -> tuple[Path, str]:
    record = tmp_path / "record"
    done = machine.sparkwing("run", "ci", "--sw-record-dir", str(record), "-o", "json",
                             extra_env={**GITHUB, "GITHUB_SHA": machine.sha})
    assert done.returncode == 0, done.stderr[-3000:]
    runs = machine.json_lines("runs", "list", "--from", str(record))
    return record, runs[0]["id"]


def test_the_read_only_dashboard_shows_the_recorded_run_and_refuses_every_write(
        machine: Machine, recorded: tuple[Path, str], tmp_path: Path, sparkwing_home: Path) -> None:
    record, run_id = recorded
    routes = mutating_routes(record)
    # The list is the application's own: the known writes must be among them.
    for expected in ("/api/v1/runs/{run_id}/cancel", "/api/v1/runs/{run_id}/retry",
                     "/api/v1/runs/{run_id}/approvals/{node_id}",
                     "/api/v1/runs/{run_id}/nodes/{node_id}/release", "/webhooks/github"):
        assert ("POST", expected) in routes, routes
    before = tree(record)

    port = free_port()
    viewer = tmp_path / "viewer"
    viewer.mkdir()
    started = machine.sparkwing("dashboard", "start", "--read-only", "--from", str(record),
                                "--addr", f"127.0.0.1:{port}", cwd=viewer)
    try:
        assert started.returncode == 0, started.stderr
        url = f"http://127.0.0.1:{port}"
        assert re.fullmatch(rf"dashboard running at {re.escape(url)} \(pid \d+, read-only, "
                            rf"from {re.escape(str(record))}\)\n", started.stdout), started.stdout
        status = machine.sparkwing("dashboard", "status", "-o", "json", cwd=viewer)
        info = json.loads(status.stdout)
        assert (info["read_only"], info["from_dir"], info["profile"]) == (True, str(record), "")

        caps = http("GET", f"{url}/api/v1/capabilities")[1]
        assert caps["read_only"] is True and caps["profile"] == "record-dir"
        assert caps["storage"] == {"runs": "dir", "logs": "dir"}
        assert not {"cancel", "retry", "approvals", "pauses"} & set(caps["features"])

        code, page = http("GET", f"{url}/api/v1/runs")
        assert code == 200
        assert [(r["id"], r["status"], r["trigger_source"], r["git_branch"], r["git_sha"])
                for r in page["runs"]] == [
            (run_id, "success", "ci-embedded", "feature-x", machine.sha)]
        code, detail = http("GET", f"{url}/api/v1/runs/{run_id}")
        assert code == 200
        trigger = detail["run"]["invocation"]["trigger"]
        assert trigger["extra"] == {
            "vendor": "github-actions", "repository": "acme/widgets", "sha": machine.sha,
            "branch": "feature-x", "pull_request": "42",
            "job_url": "https://github.com/acme/widgets/actions/runs/7001", "build_id": "7001",
        }
        assert trigger["user"] == "octo" and trigger["event"] == "pull_request"
        code, logs = http("GET", f"{url}/api/v1/runs/{run_id}/logs/smoke")
        assert code == 200, logs
        assert "smoke test passed on dist/textstats.pyz\n" in logs

        for method, pattern in routes:
            path = re.sub(r"\{(\w+)(?::[^}]*)?\}",
                          lambda m: {"run_id": run_id, "node_id": "smoke"}.get(m.group(1), "ci"),
                          pattern)
            code, body = http(method, url + path, b"{}")
            assert (code, body) == (405, {"error": "read-only mode: writes disabled"}), (
                method, path, code, body)
        # Nothing was cancelled or started: the run is as it was.
        assert http("GET", f"{url}/api/v1/runs")[1]["runs"][0]["status"] == "success"
    finally:
        machine.sparkwing("dashboard", "kill", cwd=viewer)
    assert tree(record) == before, "the read-only dashboard changed the record directory"


def test_dashboard_from_refuses_a_directory_without_runs(machine: Machine, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    done = machine.sparkwing("dashboard", "start", "--from", str(empty),
                             "--addr", f"127.0.0.1:{free_port()}")
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --from {empty}: no runs recorded there")
    assert not (Path(machine.env["SPARKWING_HOME"]) / "dashboard.pid").exists()
    both = machine.sparkwing("dashboard", "start", "--from", str(empty), "--profile", "laptop",
                             "--addr", f"127.0.0.1:{free_port()}")
    assert both.returncode == 2 and "cannot be combined with --profile" in both.stderr
