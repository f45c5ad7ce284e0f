"""``sparkwing run --sw-executor k8s`` end to end against the fake cluster.

Each job becomes a Job whose pod runs the real ``sparkwing node exec`` (the
fake runs it as a local process in the project, with this environment: the
"image"), outputs flow between jobs through the state store, simulated
failures show their reason in ``runs status``, and Ctrl-C deletes the Jobs
that are still running.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sparkwing_k8s.testing import ANNOTATION, ANNOTATION_AFTER, FakeKubernetes

from .conftest import wait_for

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SPARKWING = [sys.executable, "-m", "sparkwing_cli.main"]


@dataclass
class Project:
    """A project directory, the environment its commands run in, and the fake cluster."""

    dir: Path
    env: dict[str, str]
    fake: FakeKubernetes

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """``sparkwing ARGS`` in the project."""
        return subprocess.run([*SPARKWING, *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def run(self, *args: str, expect: int = 0) -> str:
        """``sparkwing run ARGS --sw-executor k8s -o json``; return the run id."""
        proc = self.cli("run", *args, "--sw-executor", "k8s", "-o", "json")
        assert proc.returncode == expect, proc.stdout[-3000:] + proc.stderr[-3000:]
        finish = [json.loads(ln) for ln in proc.stdout.splitlines() if '"run_finish"' in ln]
        assert len(finish) == 1, proc.stdout[-2000:]
        return str(finish[0]["attrs"]["run_id"])

    def status(self, run_id: str) -> dict[str, Any]:
        """``sparkwing runs status --run ID -o json`` (it exits 1 for a failed run)."""
        proc = self.cli("runs", "status", "--run", run_id, "-o", "json")
        assert proc.returncode in (0, 1) and proc.stdout, proc.stderr
        return dict(json.loads(proc.stdout))

    def state(self) -> Any:
        """The project's state store (real SQLite)."""
        from sparkwing_sqlite.store import SqliteStateStore

        return SqliteStateStore(Path(self.env["SPARKWING_HOME"]) / "state.db")

    def dashboard_nodes(self, run_id: str) -> list[dict[str, Any]]:
        """The run's nodes as the dashboard serves them (``GET /api/v1/runs/{id}/nodes``)."""
        from aiohttp.test_utils import TestClient, TestServer
        from sparkwing.config import open_stores, resolve_profile
        from sparkwing_server.localws.app import make_app

        async def fetch() -> list[dict[str, Any]]:
            stores = open_stores(resolve_profile(flag=None, pipeline=None, project=None))
            try:
                async with TestClient(TestServer(make_app(stores))) as client:
                    resp = await client.get(f"/api/v1/runs/{run_id}/nodes")
                    assert resp.status == 200
                    return list((await resp.json())["nodes"])
            finally:
                stores.close()

        saved = {k: os.environ.get(k) for k in ("SPARKWING_HOME", "SPARKWING_PROFILES")}
        os.environ.update(SPARKWING_HOME=self.env["SPARKWING_HOME"],
                          SPARKWING_PROFILES=self.env["SPARKWING_PROFILES"])
        try:
            return asyncio.run(fetch())
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def jobs_created(self) -> list[dict[str, Any]]:
        """Every Job the cluster was asked to create."""
        return self.fake.run(lambda c: [ch.obj for ch in c.store.history
                                        if ch.resource == "jobs" and ch.type == "ADDED"])


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Callable[..., Project]]:
    """``project(example=None, pipeline=None)``: an example's copy (or a new project) on a fake cluster."""
    started: list[FakeKubernetes] = []

    def make(example: str | None = None, pipeline: str | None = None) -> Project:
        root = tmp_path / (example or "project")
        if example:
            shutil.copytree(EXAMPLES / example, root,
                            ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
        else:
            (root / ".sparkwing" / "pipelines").mkdir(parents=True)
            (root / ".sparkwing" / "pipelines" / "e2e.py").write_text(pipeline or "")
            (root / ".sparkwing" / "sparkwing.yaml").write_text(
                "pipelines:\n  - name: e2e\n    entrypoint: pipelines.e2e:plan\n")
        (tmp_path / "home").mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SPARKWING_", "KUBE"))}
        env.update(HOME=str(tmp_path / "home"), SPARKWING_HOME=str(tmp_path / "swhome"),
                   XDG_CONFIG_HOME=str(tmp_path / "xdg"), NO_COLOR="1",
                   SPARKWING_PROFILES=str(tmp_path / "xdg" / "profiles.yaml"))
        # The pods get this environment and run in the project: the "image".
        fake = FakeKubernetes(image_root=root, image_env=dict(env)).start()
        started.append(fake)
        env["KUBECONFIG"] = str(fake.write_kubeconfig(tmp_path / "kubeconfig"))
        return Project(root, env, fake)

    try:
        yield make
    finally:
        for fake in started:
            fake.stop()


def _ran_on_k8s(p: Project, run_id: str) -> set[str]:
    with p.state() as st:
        return {str(e.payload.get("executor")) for e in st.list_events(run_id, 0, 0)
                if e.kind == "attempt_finished"}


def test_python_ci_example_each_job_a_kubernetes_job(project: Callable[..., Project]) -> None:
    p = project("python-ci")
    run_id = p.run("ci")
    with p.state() as st:
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
    assert {nid: n.outcome for nid, n in nodes.items()} == {
        "lint": "success", "test": "success", "build": "success", "smoke": "success"}
    jobs = {j["metadata"]["annotations"]["sparkwing.dev/node-id"]: j for j in p.jobs_created()}
    assert sorted(jobs) == ["build", "lint", "smoke", "test"]
    command = jobs["build"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[1:] == ["node", "exec", "--run", run_id, "--node", "build", "--attempt", "1",
                           "--log-to", "stdout", "--profile", "laptop"]
    assert _ran_on_k8s(p, run_id) == {"k8s"}
    # outputs flow: build's output (from its pod) reached smoke (another pod)
    assert nodes["build"].output["artifact"] == "dist/textstats.pyz"
    assert nodes["smoke"].output == {"checked": "dist/textstats.pyz"}
    assert nodes["smoke"].annotations == ["smoke test passed on dist/textstats.pyz"]
    # the pods' log records reached the node logs
    home = Path(p.env["SPARKWING_HOME"])
    test_log = (home / "runs" / run_id / "test.log").read_text()
    assert "Ran 3 tests" in test_log and "created Job sw-" in test_log
    steps = {s["step_id"]: s["status"] for s in p.status(run_id)["nodes"][0]["steps"]}
    assert steps == {"compile": "passed", "tabs": "passed", "style": "passed"}


def test_test_matrix_example_on_k8s(project: Callable[..., Project]) -> None:
    p = project("test-matrix")
    run_id = p.run("matrix")
    with p.state() as st:
        nodes = {n.node_id: n for n in st.list_nodes(run_id)}
    assert all(n.outcome == "success" for n in nodes.values())
    assert nodes["report"].output == {"variants": 4, "report": "dist/matrix.json"}
    assert len(p.jobs_created()) == len(nodes) and _ran_on_k8s(p, run_id) == {"k8s"}


FAILURES = """
import sparkwing as sw

def plan(plan, inputs, run):
    def failing(name, failure):
        notes = {"@ANNOTATION@": failure, "@AFTER@": "0.5"}
        plan.job(name, sw.sh("sleep 30")).executor("k8s", annotations=notes)

    failing("oom", "oom")
    failing("evicted", "evicted")
    failing("lost", "node-lost")
    failing("pull", "image-pull")
    plan.job("deadline", sw.sh("sleep 30")).executor("k8s", active_deadline_s=2)
    plan.job("fine", sw.sh("echo all good"))
""".replace("@ANNOTATION@", ANNOTATION).replace("@AFTER@", ANNOTATION_AFTER)


def test_every_simulated_failure_shows_its_reason(project: Callable[..., Project]) -> None:
    p = project(pipeline=FAILURES)
    profiles = Path(p.env["SPARKWING_PROFILES"])
    profiles.parent.mkdir(parents=True, exist_ok=True)
    profiles.write_text("profiles:\n  laptop:\n    executor:\n      type: k8s\n"
                        "      image_pull_grace_s: 1\n")
    run_id = p.run("e2e", expect=1)
    nodes = {n["node_id"]: n for n in p.status(run_id)["nodes"]}
    assert {nid: n["failure_reason"] for nid, n in nodes.items()} == {
        "oom": "oom", "evicted": "evicted", "lost": "node_lost", "pull": "image_pull",
        "deadline": "deadline", "fine": ""}
    assert nodes["fine"]["outcome"] == "success"
    assert "OOMKilled" in nodes["oom"]["error"] and "ErrImagePull" in nodes["pull"]["error"]
    text = p.cli("runs", "status", "--run", run_id).stdout
    for reason in ("oom", "evicted", "node_lost", "image_pull", "deadline"):
        assert reason in text
    shown = {n["node_id"]: n["failure_reason"] for n in p.dashboard_nodes(run_id)}
    assert shown == {nid: n["failure_reason"] for nid, n in nodes.items()}


SLEEPER = '''
import sparkwing as sw

def plan(plan, inputs, run):
    plan.job("long", sw.sh("sleep 120"))
    plan.job("other", sw.sh("sleep 120"))
'''


def test_ctrl_c_deletes_the_running_jobs(project: Callable[..., Project]) -> None:
    p = project(pipeline=SLEEPER)
    proc = subprocess.Popen([*SPARKWING, "run", "e2e", "--sw-executor", "k8s", "-o", "json"],
                            cwd=p.dir, env=p.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)

    def running() -> int:
        pods = p.fake.run(lambda c: c.store.list("pods"))
        return sum(1 for pod in pods if pod["status"].get("phase") == "Running")

    try:
        wait_for(lambda: running() == 2, "both pods running", timeout=300)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-2000:] + err[-2000:]
    deletes = [c for c in p.fake.calls() if c["verb"] == "delete" and c["resource"] == "jobs"]
    assert len(deletes) == 2 and all("propagationPolicy=Foreground" in c["query"]
                                     for c in deletes)
    wait_for(lambda: not p.fake.run(lambda c: c.store.list("jobs") + c.store.list("pods")),
             "jobs and pods gone")
    run_id = next(json.loads(ln) for ln in out.splitlines() if '"run_finish"' in ln)["attrs"]["run_id"]
    assert p.status(run_id)["run"]["status"] == "cancelled"


def test_no_cluster_stops_the_run_before_it_starts(project: Callable[..., Project]) -> None:
    p = project(pipeline=SLEEPER)
    env = dict(p.env)
    env.pop("KUBECONFIG")
    proc = subprocess.run([*SPARKWING, "run", "e2e", "--sw-executor", "k8s"], cwd=p.dir,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: executor k8s: no cluster configured: ")
    assert proc.stderr.count("\n") == 1
    listed = p.cli("runs", "list", "-o", "json")
    assert listed.stdout.strip() in ("", "[]")
