"""Which executor a job runs on: its own .executor(), --sw-executor, the profile, local."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sparkwing import events
from sparkwing.errors import ConfigError, PluginError
from sparkwing.testing.harness import Harness, RecordedRun

JOBS = """
import sparkwing as sw

def plan(p, inputs, run):
    p.job("plain", lambda ctx: "plain")
    p.job("pinned-local", lambda ctx: "local").executor("local")
    p.job("pinned-process", lambda ctx: "process").executor("process", note="kept")
"""


#: Executors the workspace installs: the built-ins and the sparkwing-k8s plugin.
INSTALLED = "k8s, local, process, queue"


def _executors(run: RecordedRun) -> dict[str, str]:
    return {e.node_id: e.payload["executor"] for e in run.events
            if e.kind == events.ATTEMPT_FINISHED}


def test_without_a_choice_jobs_run_local_unless_they_name_an_executor(
    sparkwing_harness: Harness,
) -> None:
    sparkwing_harness.pipeline("jobs", JOBS)
    run = sparkwing_harness.run("jobs")
    assert run.status == "success"
    assert _executors(run) == {"plain": "local", "pinned-local": "local",
                               "pinned-process": "process"}
    assert run.run.invocation["engine"]["executor"] == "local"
    plan_nodes = {n["id"]: n for n in run.run.plan["nodes"]}
    assert plan_nodes["pinned-process"]["modifiers"]["executor"] == "process"


def test_the_flag_applies_to_jobs_that_name_none(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("jobs", JOBS)
    run = sparkwing_harness.run("jobs", executor="process")
    assert _executors(run) == {"plain": "process", "pinned-local": "local",
                               "pinned-process": "process"}


def _team_profile(home_config: Path, block: str) -> None:
    path = home_config / "sparkwing" / "profiles.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"profiles:\n  team:\n    executor: {block}\n")


def test_the_profile_applies_below_the_flag(sparkwing_harness: Harness,
                                            sparkwing_home: Path) -> None:
    _team_profile(sparkwing_home.parent / "xdg-config", "{type: process, grace_s: 2}")
    sparkwing_harness.pipeline("jobs", JOBS)
    by_profile = sparkwing_harness.run("jobs", profile="team")
    assert _executors(by_profile)["plain"] == "process"
    assert by_profile.run.invocation["engine"]["executor"] == "process"
    by_flag = sparkwing_harness.run("jobs", profile="team", executor="local")
    assert _executors(by_flag) == {"plain": "local", "pinned-local": "local",
                                   "pinned-process": "process"}


def _runs(home: Path) -> list[object]:
    from sparkwing_sqlite.store import SqliteStateStore

    with SqliteStateStore(home / "state.db") as st:
        return list(st.list_runs())


def test_an_unknown_executor_flag_fails_before_the_run_starts(
    sparkwing_harness: Harness, sparkwing_home: Path,
) -> None:
    sparkwing_harness.pipeline("jobs", JOBS)
    prepared = sparkwing_harness.prepare("jobs", executor="nomad")
    with pytest.raises(PluginError) as err:
        prepared.execute()
    assert str(err.value) == ('--sw-executor nomad: no plugin provides executor type "nomad"; '
                              f"installed: {INSTALLED}")
    assert err.value.exit_code == 2
    assert _runs(sparkwing_home) == []


def test_an_executor_that_cannot_be_built_stops_the_run_before_it_starts(
    sparkwing_harness: Harness, sparkwing_home: Path,
) -> None:
    _team_profile(sparkwing_home.parent / "xdg-config", "{type: process, grace_s: -1}")
    sparkwing_harness.pipeline("jobs", JOBS)
    with pytest.raises(ConfigError) as err:
        sparkwing_harness.run("jobs", profile="team")
    assert str(err.value) == "executor process: grace_s must be a number >= 0, got -1"
    assert _runs(sparkwing_home) == []


def test_an_unknown_job_executor_names_the_job(sparkwing_harness: Harness) -> None:
    sparkwing_harness.pipeline("jobs", """
        import sparkwing as sw
        def plan(p, inputs, run):
            p.job("deploy", lambda ctx: None).executor("rocket")
    """)
    with pytest.raises(PluginError) as err:
        sparkwing_harness.run("jobs")
    assert str(err.value) == ('job "deploy": .executor("rocket"): no plugin provides executor '
                              'type "rocket"; installed: ' + INSTALLED)


@pytest.mark.parametrize(("block", "expected"), [
    ("{type: nope}", f'no plugin provides executor type "nope"; installed: {INSTALLED}'),
    ("{type: local, image: x}", "unknown key 'image' for type=local; valid keys: type"),
    ("{image: x}", "type is required (an executor such as local, process)"),
])
def test_a_bad_profile_executor_is_a_one_line_config_error(
    sparkwing_harness: Harness, sparkwing_home: Path, block: str, expected: str,
) -> None:
    _team_profile(sparkwing_home.parent / "xdg-config", block)
    sparkwing_harness.pipeline("jobs", JOBS)
    with pytest.raises(ConfigError) as err:
        sparkwing_harness.run("jobs", profile="team")
    message = str(err.value)
    assert "\n" not in message and message.endswith(expected), message
    assert 'profile "team": executor' in message


def test_the_cli_refuses_an_unknown_executor_with_exit_2(tmp_path: Path) -> None:
    from sparkwing.testing.procs import isolated_env

    env = {**isolated_env(tmp_path), "SPARKWING_DISABLE_PLUGINS": "k8s"}
    harness = Harness(tmp_path / "repo")
    harness.pipeline("jobs", JOBS)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sparkwing_cli.main", *args],
                              cwd=harness.root, env=env, capture_output=True, text=True,
                              timeout=60)

    proc = cli("run", "jobs", "--sw-executor", "k8s")
    assert proc.returncode == 2
    assert proc.stderr == ('error: --sw-executor k8s: no plugin provides executor type "k8s"; '
                           "installed: local, process, queue; install sparkwing-k8s\n")
    listed = cli("runs", "list", "-o", "json")
    assert listed.returncode == 0 and listed.stdout.strip() in ("", "[]")
    assert "--sw-executor NAME" in cli("run", "--help").stdout


def test_executor_needs_a_name() -> None:
    import sparkwing as sw
    from sparkwing.errors import PlanError

    plan = sw.Plan("p")
    node = plan.job("a", lambda ctx: None)
    with pytest.raises(PlanError, match='job "a": executor\\(\\) needs an executor name'):
        node.executor("  ")
