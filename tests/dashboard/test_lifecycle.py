"""``sparkwing dashboard start|status|kill`` through the real CLI, with real processes and ports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from sparkwing.testing.procs import wait_for


def http(method: str, url: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_start_status_replace_kill(cli: Any, port: int, alive: Any) -> None:
    started = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stderr
    url = f"http://127.0.0.1:{port}"
    match = re.fullmatch(rf"dashboard running at {re.escape(url)} \(pid (\d+)\)\n", started.stdout)
    assert match, started.stdout
    pid = int(match.group(1))
    assert cli.dashboard_pid() == pid and alive(pid)
    assert http("GET", f"{url}/api/health") == (200, {"status": "ok"})
    assert http("GET", f"{url}/api/v1/version")[1]["pid"] == pid
    log = (cli.home / "dashboard.log").read_text()
    assert f"listening on {url} (pid {pid}, profile laptop)" in log

    status = cli("dashboard", "status")
    assert status.returncode == 0
    assert status.stdout == f"dashboard running at {url} (pid {pid})\n"
    as_json = json.loads(cli("dashboard", "status", "-o", "json").stdout)
    assert as_json["running"] is True and as_json["pid"] == pid and as_json["url"] == url

    again = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}")
    assert again.returncode == 0, again.stderr
    new_pid = cli.dashboard_pid()
    assert new_pid is not None and new_pid != pid
    assert f"replaced the dashboard with pid {pid}" in again.stderr
    assert not alive(pid) and alive(new_pid)
    assert http("GET", f"{url}/api/v1/version")[1]["pid"] == new_pid
    assert (cli.home / "dashboard.log").read_text().count("listening on") == 2

    killed = cli("dashboard", "kill")
    assert killed.returncode == 0 and killed.stdout == f"dashboard stopped (pid {new_pid})\n"
    assert not alive(new_pid)
    assert not (cli.home / "dashboard.pid").exists()
    stopped = cli("dashboard", "status")
    assert stopped.returncode == 1 and stopped.stdout == "dashboard not running\n"
    noop = cli("dashboard", "kill")
    assert noop.returncode == 0 and noop.stdout == "dashboard not running\n"


def test_port_taken_by_another_program_is_a_one_line_error(cli: Any, port: int) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        result = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: address 127.0.0.1:{port} is already in use by another program; stop it or "
        "choose another address with --addr\n"
    )
    assert not (cli.home / "dashboard.pid").exists()
    assert cli("dashboard", "status").returncode == 1


def test_read_only_refuses_writes_with_405(cli: Any, port: int) -> None:
    result = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}", "--read-only")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(", read-only)")
    url = f"http://127.0.0.1:{port}"
    code, body = http("POST", f"{url}/api/v1/runs/run-20260101-000000-00000000/cancel")
    assert (code, body) == (405, {"error": "read-only mode: writes disabled"})
    assert http("GET", f"{url}/api/v1/runs") == (200, {"runs": [], "next_cursor": None})
    assert http("GET", f"{url}/api/v1/capabilities")[1]["read_only"] is True
    assert "read-only" in cli("dashboard", "status").stdout


def test_stale_pid_file_is_not_running(cli: Any, alive: Any) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    cli.home.mkdir(parents=True)
    (cli.home / "dashboard.pid").write_text(f"{dead.pid}\n")
    status = cli("dashboard", "status")
    assert status.returncode == 1 and status.stdout == "dashboard not running\n"
    assert not (cli.home / "dashboard.pid").exists()


def test_pid_file_of_an_unrelated_process_is_never_signalled(cli: Any, alive: Any) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        cli.home.mkdir(parents=True)
        (cli.home / "dashboard.pid").write_text(f"{bystander.pid}\n")
        assert cli("dashboard", "kill").stdout == "dashboard not running\n"
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_server_exits_on_sigterm_and_removes_its_pid_file(cli: Any, port: int, alive: Any) -> None:
    assert cli("dashboard", "start", "--addr", f"127.0.0.1:{port}").returncode == 0
    pid = cli.dashboard_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), timeout=15)
    assert not (cli.home / "dashboard.pid").exists()
    assert "dashboard stopping" in (cli.home / "dashboard.log").read_text()


def test_bad_address_and_failed_server_start(cli: Any, port: int) -> None:
    bad = cli("dashboard", "start", "--addr", "localhost")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --addr 'localhost'")
    failed = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}", "--profile", "nope")
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: dashboard failed to start: ")
    assert 'unknown profile "nope"' in failed.stderr and failed.stderr.count("\n") == 1
    assert not (cli.home / "dashboard.pid").exists()


def test_profile_selects_the_stores_served(cli: Any, port: int, tmp_path: Any) -> None:
    from sparkwing.storage.records import Run
    from sparkwing_sqlite.store import SqliteStateStore

    other = tmp_path / "team-state.db"
    profiles = tmp_path / "config" / "sparkwing" / "profiles.yaml"
    profiles.parent.mkdir(parents=True, exist_ok=True)
    profiles.write_text(
        "profiles:\n"
        "  team:\n"
        f"    state: {{type: sqlite, path: {other}}}\n"
        f"    logs: {{type: filesystem, path: {tmp_path / 'team-logs'}}}\n"
    )
    store = SqliteStateStore(other)
    store.create_run(Run(id="run-20260101-000000-0000aaaa", pipeline="team-build",
                         status="success", created_at=1.0, finished_at=2.0))
    store.close()
    url = f"http://127.0.0.1:{port}"
    assert cli("dashboard", "start", "--addr", f"127.0.0.1:{port}").returncode == 0
    assert http("GET", f"{url}/api/v1/runs")[1]["runs"] == []
    started = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}", "--profile", "team")
    assert started.returncode == 0, started.stderr
    runs = http("GET", f"{url}/api/v1/runs")[1]["runs"]
    assert [r["pipeline"] for r in runs] == ["team-build"]
    assert http("GET", f"{url}/api/v1/capabilities")[1]["profile"] == "team"
    assert json.loads(cli("dashboard", "status", "-o", "json").stdout)["profile"] == "team"


NEWER_DASHBOARD = """
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"version": "99.0.0"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_a_newer_running_dashboard_is_not_replaced(cli: Any, port: int, alive: Any) -> None:
    # Stands in for a dashboard of a future sparkwing: its command line names the
    # server module (as the PID check requires) and it answers the version handshake.
    newer = subprocess.Popen(
        [sys.executable, "-c", NEWER_DASHBOARD, str(port), "sparkwing_server.localws"])
    try:
        url = f"http://127.0.0.1:{port}"

        def answering() -> bool:
            try:
                return http("GET", f"{url}/api/v1/version")[0] == 200
            except OSError:
                return False

        wait_for(answering, timeout=15)
        cli.home.mkdir(parents=True)
        (cli.home / "dashboard.pid").write_text(f"{newer.pid}\n")
        (cli.home / "dashboard.json").write_text(json.dumps({"pid": newer.pid, "url": url}))
        result = cli("dashboard", "start", "--addr", f"127.0.0.1:{port}")
        assert result.returncode == 1
        assert result.stderr == (
            f"error: a newer dashboard (99.0.0) runs at {url} (this is 0.1.0); update "
            "sparkwing or stop it with: sparkwing dashboard kill\n")
        assert alive(newer.pid)
        assert cli("dashboard", "status").returncode == 0
    finally:
        newer.kill()
        newer.wait()
