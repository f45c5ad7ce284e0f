"""``sparkwing pipeline trigger``: a token that can queue but not follow is refused before queueing.

Following reads the run (``runs.read``), the trigger row while no runner
has claimed it (``triggers.read``) and the logs (``logs.read``). A token
without one of them used to queue the run and then die on the first 403
with exit 1 (as if the run had failed).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from .conftest import Controller

REPO = Path(__file__).resolve().parents[2]
#: Hang guard (not a timing assertion).
TIMEOUT_S = 300.0


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "python-ci"
    shutil.copytree(REPO / "examples" / "python-ci", root,
                    ignore=shutil.ignore_patterns("__pycache__", "dist"))
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.invalid",
           "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@example.invalid"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "p"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root


def _trigger(controller: Controller, project: Path, token: str,
             *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", "pipeline", "trigger", "ci",
         "--controller", controller.url, *args], cwd=project, capture_output=True, text=True,
        timeout=TIMEOUT_S, env={**controller.env, "SPARKWING_TOKEN": token})


def test_a_token_that_cannot_follow_is_refused_before_anything_is_queued(
        controller: Controller, tmp_path: Path) -> None:
    admin = controller.token("user", "root", "admin")
    no_triggers = controller.token("user", "dev", "runs.write,runs.read,logs.read")
    controller.start("--require-auth")
    project = _project(tmp_path)

    refused = _trigger(controller, project, no_triggers)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(
        "error: the token (user:dev) lacks triggers.read: queueing needs runs.write, following "
        "the run runs.read, triggers.read, logs.read"), refused.stderr
    listed = controller.get("/api/v1/triggers", admin).json()["triggers"]
    assert listed == [], "the refused follow queued a trigger"
    # queueing alone needs only runs.write
    detached = _trigger(controller, project, no_triggers, "--detach")
    assert detached.returncode == 0, detached.stderr
    assert len(controller.get("/api/v1/triggers", admin).json()["triggers"]) == 1


def test_a_token_revoked_while_following_ends_the_follow_with_exit_2(
        controller: Controller, tmp_path: Path) -> None:
    controller.token("user", "root", "admin")
    token = controller.token("user", "dev", "runs.write,runs.read,triggers.read,logs.read")
    controller.start("--require-auth")
    project = _project(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparkwing_cli.main", "pipeline", "trigger", "ci",
         "--controller", controller.url], cwd=project, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**controller.env, "SPARKWING_TOKEN": token})
    try:
        # no runner: the follow waits for one, polling the controller
        lines: queue.Queue[str] = queue.Queue()
        stdout = proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [lines.put(ln) for ln in stdout], daemon=True).start()
        first = lines.get(timeout=TIMEOUT_S)
        assert first.startswith("waiting for a runner to claim trigger "), first
        revoked = controller.cli("controller", "token", "revoke", token[:12])
        assert revoked.returncode == 0, revoked.stderr
        assert proc.wait(timeout=TIMEOUT_S) == 2
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert err.splitlines()[-1].startswith("error: following run run-"), err
        assert "HTTP 401" in err.splitlines()[-1], err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
