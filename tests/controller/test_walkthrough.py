"""Issue 12's "Done when", walked through once with the real CLI: controller, users, runners, triggers.

From a fresh home: ``controller serve --require-auth``; an admin user, a
runner token and a user token made with the CLI; every example of
``examples/`` (each a copy in its own git repository) sent with ``sparkwing
pipeline trigger NAME --follow`` while two ``sparkwing runner`` processes
serve the queue; then the dashboard's runs listing read with a login
session, and the same routes refused without one.

The three triggers are queued before the runners start, so when they do
there is work for both (each takes one trigger at a time): each runner's
log must show at least one claimed trigger.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .conftest import Controller

REPO = Path(__file__).resolve().parents[2]
#: Hang guards (not timing assertions): a follow that never ends, a queue that never fills.
FOLLOW_TIMEOUT_S = 600.0
WAIT_TIMEOUT_S = 300.0
PASSWORD = "walkthrough-pw-1"
RUNNERS = ("box-a", "box-b")
#: example directory → the pipeline and flags it is triggered with (each passes offline).
EXAMPLES: dict[str, tuple[str, ...]] = {
    "python-ci": ("ci",),
    "release": ("release", "--version", "1.2.3", "--channel", "beta", "--publish",
                "--token", "walkthrough-s3cr3t"),
    "test-matrix": ("matrix",),
}

T = TypeVar("T")


def _wait_for(fn: Callable[[], T], what: str, explain: Callable[[], str]) -> T:
    end = time.monotonic() + WAIT_TIMEOUT_S
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}:\n{explain()}")
        time.sleep(0.2)


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.invalid"}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def _project(tmp_path: Path, example: str) -> Path:
    root = tmp_path / "projects" / example
    shutil.copytree(REPO / "examples" / example, root,
                    ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", example)
    return root


def _events(log: Path, name: str) -> list[dict[str, Any]]:
    """The runner log's JSON lines whose event is *name*."""
    out = []
    for line in log.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            out.append(event)
    return out


def _stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers; reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def test_issue_12_walkthrough(controller: Controller, tmp_path: Path) -> None:
    # an admin who logs in, a runner token for both runners, a user token to trigger with
    made = controller.cli_input(PASSWORD + "\n", "controller", "user", "create", "--name",
                                "alice", "--scope", "admin")
    assert made.returncode == 0, made.stderr
    runner_token = controller.token("runner", "pool", "runner")
    user_token = controller.token("user", "dev", "runs.write,runs.read,triggers.read,logs.read")
    controller.start("--require-auth")
    projects = {example: _project(tmp_path, example) for example in EXAMPLES}

    procs: list[subprocess.Popen[str]] = []
    runner_logs = {name: tmp_path / f"{name}.log" for name in RUNNERS}

    def runner_tail() -> str:
        return "\n".join(f"--- {name}\n{log.read_text()[-3000:]}" for name, log in
                         runner_logs.items() if log.exists())

    try:
        # every example triggered at once; each follow waits for a runner
        triggers: dict[str, subprocess.Popen[str]] = {}
        for example, args in EXAMPLES.items():
            proc = subprocess.Popen(
                [sys.executable, "-m", "sparkwing_cli.main", "pipeline", "trigger", *args,
                 "--controller", controller.url, "--follow"],
                cwd=projects[example], env={**controller.env, "SPARKWING_TOKEN": user_token},
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True)
            procs.append(proc)
            triggers[example] = proc

        def queued() -> list[dict[str, Any]]:
            answer = controller.get("/api/v1/triggers", runner_token)
            assert answer.status == 200, answer.body
            rows: list[dict[str, Any]] = answer.json()["triggers"]
            return rows if len(rows) == len(EXAMPLES) else []

        def trigger_state() -> str:
            dead = {e: (p.returncode, p.stderr.read() if p.stderr else "")
                    for e, p in triggers.items() if p.poll() is not None}
            return f"triggers listed: {controller.get('/api/v1/triggers', runner_token).body!r}" \
                   f"\nexited trigger commands: {dead}"

        rows = _wait_for(queued, "the three triggers to be queued", trigger_state)
        assert {r["status"] for r in rows} == {"pending"}, rows

        # two runners serve the queue, one trigger at a time each
        for name in RUNNERS:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "sparkwing_cli.main", "runner", "--controller",
                 controller.url, "--name", name, "--max-jobs", "1", "--poll", "0.2",
                 "--work-dir", str(tmp_path / f"work-{name}")],
                cwd=controller.cwd, env={**controller.env, "SPARKWING_TOKEN": runner_token},
                stdout=subprocess.DEVNULL, stderr=runner_logs[name].open("w"),
                start_new_session=True))

        run_ids: dict[str, str] = {}
        printed: list[str] = []
        for example, proc in triggers.items():
            try:
                out, err = proc.communicate(timeout=FOLLOW_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"pipeline trigger of {example} never ended\n"
                                     + runner_tail()) from None
            assert proc.returncode == 0, (example, out[-3000:], err[-3000:], runner_tail())
            printed += [out, err]
            run_id = "run-" + err.split("queued trigger ")[1].split(";")[0][4:]
            assert f"run {run_id}: success" in err, (example, err[-3000:])
            # live log lines: "[job] text" besides the "[job] status" transitions
            logged = [ln for ln in out.splitlines() if ln.startswith("[")
                      and ln.split("] ", 1)[-1] not in ("success", "running", "pending",
                                                        "skipped")]
            assert logged, (example, out[-3000:])
            if example == "python-ci":
                assert any(ln.startswith("[smoke] ") and "words: 21" in ln for ln in logged), out
            run_ids[example] = run_id
        # the secret input never reached the terminal
        assert "walkthrough-s3cr3t" not in "".join(printed)

        # which runner ran what: each runner logs the triggers it claimed (a claim's holder is
        # cleared once the trigger is done)
        rows = controller.get("/api/v1/triggers", runner_token).json()["triggers"]
        assert {r["status"] for r in rows} == {"done"}, rows
        assert {r["run_id"] for r in rows} == set(run_ids.values()), rows
        claimed = {name: [str(e["trigger"]) for e in _events(log, "trigger claimed")]
                   for name, log in runner_logs.items()}
        assert sorted(t for ts in claimed.values() for t in ts) == sorted(r["id"] for r in rows)
        assert all(claimed.values()), (
            f"expected work on both runners, claims were {claimed}\n" + runner_tail())
        # the runners read each child's answer (its -o json document)
        exits = [e for log in runner_logs.values() for e in _events(log, "child exited")]
        assert [(e["exit_code"], e["run_status"]) for e in exits] == [(0, "success")] * len(rows)

        # the dashboard, logged in as alice, lists every triggered run
        origin = {"Origin": controller.url}
        login = controller.post("/login", {"username": "alice", "password": PASSWORD},
                                headers=origin)
        assert login.status == 200, login.body
        cookie = login.headers["Set-Cookie"].split(";")[0]
        assert cookie.startswith("sparkwing_session=")
        listing = controller.get("/ui/api/v1/runs?limit=50", headers={"Cookie": cookie})
        assert listing.status == 200, listing.body
        listed = {r["id"]: r for r in listing.json()["runs"]}
        assert set(run_ids.values()) <= set(listed), (run_ids, sorted(listed))
        assert all(listed[r]["status"] == "success" for r in run_ids.values()), listed
        page = controller.get("/", headers={"Cookie": cookie})
        assert page.status == 200 and b"<html" in page.body.lower()

        # without a token or a session: 401 on the listing and on the REST routes
        for path in ("/ui/api/v1/runs", "/api/v1/runs", f"/api/v1/runs/{run_ids['python-ci']}",
                     "/api/v1/triggers"):
            controller.get(path).assert_error(401, "unauthenticated")
        controller.post("/api/v1/triggers", {"pipeline": "ci"}).assert_error(
            401, "unauthenticated")
        assert controller.get("/", headers={}).status == 303  # the page sends you to log in
    finally:
        for proc in procs:
            _stop(proc)
