"""Machines sharing one team store in tests: isolated homes and what their dashboards show.

Used by the object-store plugins' end-to-end tests (``sparkwing-s3``,
``sparkwing-gcs``, ``sparkwing-azure``), so each of them stays a thin list of
what differs (the profile block, the emulator)::

    a = make_home(tmp_path, "a", profiles)
    b = make_home(tmp_path, "b", profiles)
    ... a.cli("run", "ci", "--profile", "team", cwd=project) ...
    assert_dashboard_shows(b, run_ids)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Home:
    """One machine: its own HOME, SPARKWING_HOME and config directory."""

    root: Path
    env: dict[str, str]

    def cli(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``sparkwing ARGS`` in this home and wait (10 minutes at most)."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=cwd or self.root,
            capture_output=True, text=True, env=self.env, timeout=600,
        )

    def start(self, *args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
        """Start ``sparkwing ARGS`` in this home without waiting."""
        return subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=cwd or self.root,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env,
        )


def make_home(base: Path, name: str, profiles: str, **extra_env: str) -> Home:
    """An isolated home under *base*/*name* whose profiles.yaml holds *profiles*.

    Inherited ``SPARKWING_*`` variables are dropped (``SPARKWING_TEST_*``
    kept); git ignores the user's configuration; *extra_env* is added last.
    """
    root = base / name
    xdg = root / "xdg"
    for d in (root / "home", root / "swhome", xdg / "sparkwing"):
        d.mkdir(parents=True)
    (xdg / "sparkwing" / "profiles.yaml").write_text(profiles)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SPARKWING_") or k.startswith("SPARKWING_TEST_")}
    env.update(HOME=str(root / "home"), SPARKWING_HOME=str(root / "swhome"),
               XDG_CONFIG_HOME=str(xdg), SPARKWING_PROFILES=str(xdg / "sparkwing/profiles.yaml"),
               NO_COLOR="1", GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    env.update(extra_env)
    return Home(root, env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str) -> bytes:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as resp:
            body: bytes = resp.read()
            return body
    except urllib.error.HTTPError as exc:  # say what the dashboard answered, not just the status
        raise AssertionError(f"GET {path}: {exc.code} {exc.read()[:2000]!r}") from None


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _sorted(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def assert_dashboard_shows(home: Home, run_ids: list[str], profile: str = "team") -> None:
    """Start *home*'s dashboard on *profile* and check it shows every run of *run_ids*.

    ``/api/v1/runs`` lists them (succeeded), each run's detail has its
    nodes, and every node's log from the dashboard holds exactly the
    records ``sparkwing runs logs -o json`` of the same home gives for that
    node (and at least one). The dashboard is killed afterwards, also on
    failure. Raises ``AssertionError`` naming what was missing.
    """
    port = free_port()
    started = home.cli("dashboard", "start", "--profile", profile, "--addr", f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        listed = {r["id"]: r for r in json.loads(_get(port, "/api/v1/runs?limit=500"))["runs"]}
        missing = set(run_ids) - set(listed)
        assert not missing, f"dashboard does not list runs {sorted(missing)}"
        for run_id in run_ids:
            assert listed[run_id]["status"] == "success", listed[run_id]
            detail = json.loads(_get(port, f"/api/v1/runs/{run_id}?include=nodes"))
            nodes = [n["node_id"] for n in detail["nodes"]]
            assert nodes, f"run {run_id}: the dashboard shows no nodes"
            cli = home.cli("runs", "logs", "--run", run_id, "--profile", profile, "-o", "json")
            assert cli.returncode == 0, cli.stderr
            by_node: dict[str, list[dict[str, Any]]] = {}
            for rec in _records(cli.stdout):
                by_node.setdefault(str(rec.get("node") or ""), []).append(rec)
            shown_lines = 0
            for node in nodes:
                body = _get(port, f"/api/v1/runs/{run_id}/logs/{node}?format=raw").decode()
                shown = _records(body)
                assert _sorted(shown) == _sorted(by_node.get(node, [])), (
                    f"run {run_id} node {node}: dashboard log differs from `runs logs`")
                shown_lines += len(shown)
            assert shown_lines, f"run {run_id}: the dashboard shows no log line of any node"
    finally:
        killed = home.cli("dashboard", "kill")
        assert killed.returncode == 0, killed.stderr


#: example directory -> the ``sparkwing run`` arguments that succeed there.
EXAMPLE_RUNS: dict[str, tuple[str, ...]] = {
    "python-ci": ("ci",),
    "test-matrix": ("matrix",),
    "release": ("release", "--version", "1.2.3"),
}


def copy_example(examples: Path, name: str, dest: Path) -> Path:
    """Copy the example *name* from *examples* to *dest* (no caches or build output); return it."""
    import shutil

    shutil.copytree(examples / name, dest,
                    ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
    return dest


def assert_examples_run_and_show_from(a: Home, b: Home, examples: Path,
                                      profile: str = "team") -> None:
    """Home *a* runs every example on *profile*; home *b* lists them, reads their logs and
    status, and its dashboard shows them. Nothing of the runs stays in *a*'s local state."""
    run_ids: dict[str, str] = {}
    for name, args in EXAMPLE_RUNS.items():
        project = copy_example(examples, name, a.root / "projects" / name)
        done = a.cli("run", *args, "--profile", profile, "-o", "json", cwd=project)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        finish = [json.loads(line) for line in done.stdout.splitlines()
                  if '"event":"run_finish"' in line]
        assert len(finish) == 1, done.stdout[-2000:]
        run_ids[name] = finish[0]["attrs"]["run_id"]
    # Nothing of the runs is in home a's local files: the shared store holds them.
    assert not (a.root / "swhome" / "state.db").exists()

    listed = b.cli("runs", "list", "--profile", profile, "-o", "json")
    assert listed.returncode == 0, listed.stderr
    runs = {r["id"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert set(run_ids.values()) <= set(runs)
    assert {runs[i]["status"] for i in run_ids.values()} == {"success"}
    assert {runs[run_ids[n]]["pipeline"] for n in EXAMPLE_RUNS} == {"ci", "matrix", "release"}

    for name, run_id in run_ids.items():
        logs = b.cli("runs", "logs", "--run", run_id, "--profile", profile, "-o", "json")
        assert logs.returncode == 0, logs.stderr
        records = [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]
        assert records, f"no log records for {name}"
        assert any(r.get("node") for r in records), f"no job's log records for {name}"
    status = b.cli("runs", "status", "--run", run_ids["python-ci"], "--profile", profile,
                   "-o", "json")
    assert status.returncode == 0, status.stderr
    assert '"success"' in status.stdout
    # ... and home b's dashboard shows them: runs, each run's nodes, every node's log lines.
    assert_dashboard_shows(b, list(run_ids.values()), profile)
