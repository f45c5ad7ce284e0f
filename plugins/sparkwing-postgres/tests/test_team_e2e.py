"""Team mode through the real CLI: ``state: {type: postgres, url_source: env:SPARKWING_PG_URL}``.

Each "home" is a separate ``SPARKWING_HOME`` (a separate runner or
laptop); all of them point at one PostgreSQL schema. Every example runs
on the profile; homes see each other's runs, share memoized results,
coalesce on a key in flight, respect one global concurrency group, and
resolve each other's approval gates.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sparkwing.storage.records import RunFilter
from sparkwing.testing.procs import isolated_env, wait_for
from sparkwing_postgres.store import PostgresStateStore

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

PROFILES = """\
profiles:
  team:
    description: the team's PostgreSQL
    state: {type: postgres, url_source: env:SPARKWING_PG_URL, schema: SCHEMA}
"""


class Team:
    """One project directory, one PostgreSQL schema, any number of homes."""

    def __init__(self, tmp: Path, config: dict[str, Any]) -> None:
        self.tmp = tmp
        self.config = config
        self.root = tmp / "repo"
        (self.root / ".sparkwing" / "pipelines").mkdir(parents=True)
        (self.root / ".sparkwing" / "pipelines" / "__init__.py").write_text("")
        self.profiles = tmp / "profiles.yaml"
        self.profiles.write_text(PROFILES.replace("SCHEMA", config["schema"]))
        self.pipelines: dict[str, str] = {}

    def env(self, home: str, **extra: str) -> dict[str, str]:
        """The environment of a process in *home*, on the team profile's database."""
        env = isolated_env(self.tmp / home)
        env.update(SPARKWING_PROFILES=str(self.profiles), SPARKWING_PG_URL=self.config["url"],
                   **extra)
        return env

    def add(self, name: str, source: str) -> None:
        """Add pipeline *name* to the project."""
        mod = name.replace("-", "_")
        (self.root / ".sparkwing" / "pipelines" / f"{mod}.py").write_text(textwrap.dedent(source))
        self.pipelines[name] = f"  - name: {name}\n    entrypoint: pipelines.{mod}:plan\n"
        (self.root / ".sparkwing" / "sparkwing.yaml").write_text(
            "defaults:\n  profile: team\npipelines:\n" + "".join(self.pipelines.values())
        )

    def cli(self, home: str, *args: str, cwd: Path | None = None, timeout: float = 180,
            **extra: str) -> subprocess.CompletedProcess[str]:
        """Run the real ``sparkwing`` CLI as *home*."""
        return subprocess.run(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=cwd or self.root,
            env=self.env(home, **extra), capture_output=True, text=True, timeout=timeout,
        )

    def popen(self, home: str, *args: str, **extra: str) -> subprocess.Popen[str]:
        """Start the real CLI as *home* without waiting."""
        return subprocess.Popen(
            [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=self.root,
            env=self.env(home, **extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )

    def store(self) -> PostgresStateStore:
        """The team's state store, opened directly."""
        return PostgresStateStore.from_config(self.config)

    def runs(self) -> list[Any]:
        with self.store() as st:
            return st.list_runs(RunFilter(limit=100))

    def nodes(self, run_id: str) -> dict[str, Any]:
        with self.store() as st:
            return {n.node_id: n for n in st.list_nodes(run_id)}


@pytest.fixture
def team(tmp_path: Path, pg_config: dict[str, Any]) -> Team:
    return Team(tmp_path, pg_config)


def _finish(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if '"event":"run_finish"' in ln]
    assert len(lines) == 1, proc.stdout[-2000:] + proc.stderr
    return lines[0]["attrs"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(("example", "args", "outcomes"), [
    ("python-ci", ["ci"], {"lint": "success", "test": "success", "build": "success",
                           "smoke": "success"}),
    ("test-matrix", ["matrix"], None),
    ("release", ["release", "--version", "1.2.3"], None),
])
def test_every_example_runs_on_the_postgres_profile(
    team: Team, example: str, args: list[str], outcomes: dict[str, str] | None,
) -> None:
    target = team.tmp / example
    shutil.copytree(EXAMPLES / example, target,
                    ignore=shutil.ignore_patterns("__pycache__", "dist", "registry"))
    proc = team.cli("laptop-a", "run", *args, "--profile", "team", "-o", "json", cwd=target)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    finish = _finish(proc)
    assert finish["status"] == "success"
    with team.store() as st:
        run = st.get_run(finish["run_id"])
        nodes = {n.node_id: n for n in st.list_nodes(finish["run_id"])}
        events = st.list_events(finish["run_id"], limit=0)
    assert run is not None and run.status == "success" and run.profile == "team"
    assert nodes and all(n.status == "done" for n in nodes.values())
    assert {n.outcome for n in nodes.values()} <= {"success", "skipped"}
    if outcomes is not None:
        assert {k: n.outcome for k, n in nodes.items()} == outcomes
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    # not a single row went to the home's SQLite file
    assert not (team.tmp / "laptop-a" / "home" / "state.db").exists()


def test_two_homes_see_each_others_runs(team: Team) -> None:
    team.add("hello", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("greet", lambda ctx: ctx.info("hello from " + ctx.run.run_id))
    """)
    a = team.cli("home-a", "run", "hello", "-o", "json")
    assert a.returncode == 0, a.stderr
    run_a = _finish(a)["run_id"]
    b = team.cli("home-b", "run", "hello", "-o", "json")
    assert b.returncode == 0, b.stderr
    run_b = _finish(b)["run_id"]
    for home in ("home-a", "home-b"):
        listed = team.cli(home, "runs", "list", "-o", "json")
        assert listed.returncode == 0, listed.stderr
        ids = {json.loads(line)["id"] for line in listed.stdout.splitlines()}
        assert {run_a, run_b} <= ids
    status = team.cli("home-b", "runs", "status", "--run", run_a, "-o", "json")
    assert status.returncode == 0, status.stderr
    assert run_a in status.stdout and "success" in status.stdout


MEMO = """
import os, time
import sparkwing as sw
def compute(ctx):
    with open(ctx.path("computed.log"), "a") as f:
        f.write(ctx.run.run_id + "\\n")
    time.sleep(float(os.environ.get("WORK_S", "0.2")))
    return {"value": 42}
def plan(plan, inputs, run):
    c = plan.job("compute", compute).memoize(lambda ctx: sw.key("compute", "v1"))
    plan.job("use", lambda ctx: ctx.info(f"got {c.output.get(ctx)}")).needs(c)
"""


def test_homes_share_memoized_results(team: Team) -> None:
    team.add("memo", MEMO)
    a = team.cli("home-a", "run", "memo", "-o", "json")
    assert a.returncode == 0, a.stderr
    origin = _finish(a)["run_id"]
    b = team.cli("home-b", "run", "memo", "-o", "json")
    assert b.returncode == 0, b.stderr
    replayed = team.nodes(_finish(b)["run_id"])["compute"]
    assert replayed.outcome == "cached" and replayed.output == {"value": 42}
    assert origin in replayed.status_detail
    assert len((team.root / "computed.log").read_text().splitlines()) == 1
    listed = team.cli("home-c", "cache", "ls", "-o", "json")
    assert listed.returncode == 0 and origin in listed.stdout


def test_homes_coalesce_on_a_key_in_flight(team: Team) -> None:
    team.add("memo", MEMO)
    procs = [team.popen(f"home-{i}", "run", "memo", WORK_S="3") for i in range(3)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert len((team.root / "computed.log").read_text().splitlines()) == 1
    outcomes = sorted(team.nodes(r.id)["compute"].outcome for r in team.runs())
    assert outcomes == ["cached", "cached", "success"]


def test_homes_respect_one_global_concurrency_group(team: Team) -> None:
    team.add("deploy", """
        import time
        import sparkwing as sw
        ONE = sw.concurrency_group("prod-deploy", capacity=1, scope="global")
        def work(ctx):
            with open(ctx.path("spans.log"), "a") as f:
                f.write(f"start {time.time()}\\n")
            time.sleep(0.5)
            with open(ctx.path("spans.log"), "a") as f:
                f.write(f"end {time.time()}\\n")
        def plan(plan, inputs, run):
            plan.job("deploy", work).concurrency(ONE)
    """)
    procs = [team.popen(f"home-{i}", "run", "deploy") for i in range(3)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    marks = sorted(
        (float(t), 1 if kind == "start" else -1) for kind, t in
        (line.split() for line in (team.root / "spans.log").read_text().splitlines())
    )
    live = peak = 0
    for _, delta in marks:
        live += delta
        peak = max(peak, live)
    assert peak == 1 and len(marks) == 6


def test_an_approval_is_resolved_from_another_home(team: Team) -> None:
    team.add("gate", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            ok = plan.approval("approve", message="ship it?", timeout=120)
            plan.job("ship", sw.sh("echo shipped")).needs(ok)
    """)
    proc = team.popen("runner", "run", "gate")

    def pending() -> bool:
        runs = team.runs()
        return bool(runs) and team.nodes(runs[0].id)["approve"].status == "approval_pending"

    wait_for(pending, timeout=120)
    run_id = team.runs()[0].id
    listed = team.cli("reviewer", "runs", "approvals", "list", "-o", "json")
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
    r = team.cli("reviewer", "runs", "approvals", "approve", "--run", run_id, "--node", "approve",
                 "--comment", "lgtm")
    assert r.returncode == 0, r.stderr
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-2000:] + err
    nodes = team.nodes(run_id)
    assert nodes["approve"].outcome == "success" and nodes["ship"].outcome == "success"
    with team.store() as st:
        approval = st.get_approval(run_id, "approve")
    assert approval is not None and approval.comment == "lgtm"


def test_a_debug_pause_is_released_from_another_home(team: Team) -> None:
    team.add("dbg", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("a", sw.sh("echo a"))
    """)
    proc = team.popen("runner", "run", "dbg", "--sw-pause-before", "a")

    def paused() -> bool:
        runs = team.runs()
        return bool(runs) and team.nodes(runs[0].id)["a"].status == "paused"

    wait_for(paused, timeout=120)
    run_id = team.runs()[0].id
    r = team.cli("operator", "debug", "release", "--run", run_id, "--node", "a")
    assert r.returncode == 0, r.stderr
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out[-2000:] + err
    with team.store() as st:
        pause = st.get_pause(run_id, "a")
    assert pause is not None and pause.release_kind == "manual"
    assert team.nodes(run_id)["a"].outcome == "success"
