"""Positional run and pipeline names, --run defaulting to latest, and runs scoped to the project."""

from __future__ import annotations

import json
import shutil

from .conftest import CliEnv, run_id_of


def _second_project(env: CliEnv) -> tuple[object, str]:
    """A second project sharing the home; returns its root and one run of it."""
    other = env.tmp / "other"
    shutil.copytree(env.repo / ".sparkwing", other / ".sparkwing")
    proc = env.cli("run", "ok", "-o", "json", cwd=other)
    assert proc.returncode == 0, proc.stderr
    return other, run_id_of(proc.stdout)


def test_runs_and_latest_are_scoped_to_the_project(clienv: CliEnv) -> None:
    mine_ok = clienv.run("ok")
    mine_bad = clienv.run("broken")
    other, theirs = _second_project(clienv)  # the newest run of all, in another project

    assert clienv.cli("runs", "list", "-q").stdout.split() == [mine_bad, mine_ok]
    assert clienv.cli("runs", "list", "-q", cwd=other).stdout.split() == [theirs]
    every = clienv.cli("runs", "list", "-q", "--all-projects").stdout.split()
    assert every == [theirs, mine_bad, mine_ok]

    # latest: this project's newest run, whatever ran elsewhere since
    status = clienv.cli("runs", "status", "-o", "json")
    assert json.loads(status.stdout)["run"]["id"] == mine_bad
    status = clienv.cli("runs", "status", "--all-projects", "-o", "json")
    assert json.loads(status.stdout)["run"]["id"] == theirs
    # from a subdirectory of the project too
    sub = clienv.repo / "deep" / "er"
    sub.mkdir(parents=True)
    assert clienv.cli("runs", "list", "-q", cwd=sub).stdout.split() == [mine_bad, mine_ok]
    # an id is found whichever project it belongs to
    assert clienv.cli("runs", "status", theirs).returncode == 0

    rows = [json.loads(ln) for ln in clienv.cli("runs", "list", "-o", "json").stdout.splitlines()]
    assert {r["project"] for r in rows} == {str(clienv.repo.resolve())}
    table = clienv.cli("runs", "list", "--all-projects").stdout.splitlines()
    assert table[0].split()[-1] == "PROJECT"
    assert table[1].split()[-1] == "other" and table[2].split()[-1] == "repo"
    # outside any project: every run, with the project column
    outside = clienv.cli("runs", "list", cwd=clienv.tmp).stdout.splitlines()
    assert outside[0].split()[-1] == "PROJECT" and len(outside) == 4
    stats = json.loads(clienv.cli("runs", "stats", "-o", "json").stdout)
    assert stats["runs"] == 2


def test_a_project_without_runs_says_where_the_others_are(clienv: CliEnv) -> None:
    _second_project(clienv)
    listed = clienv.cli("runs", "list")
    assert listed.returncode == 0
    assert listed.stdout.startswith("no runs found for the project at ")
    assert "--all-projects" in listed.stdout
    proc = clienv.cli("runs", "logs")
    assert proc.returncode == 1 and "--all-projects" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_positional_forms_and_the_latest_default(clienv: CliEnv) -> None:
    ok = clienv.run("ok")
    bad = clienv.run("broken")
    assert clienv.cli("runs", "logs", ok, "-o", "plain").stdout == \
        clienv.cli("runs", "logs", "--run", ok, "-o", "plain").stdout
    latest = clienv.cli("runs", "logs", "latest", "-o", "plain").stdout
    assert latest == clienv.cli("runs", "logs", "-o", "plain").stdout
    assert "before-failing" in latest  # the newest run is the broken one
    assert clienv.cli("runs", "errors").stdout.startswith(f"{bad}  broken  failed")
    assert json.loads(clienv.cli("runs", "get", ok).stdout)["run"]["id"] == ok
    assert clienv.cli("runs", "wait", ok).returncode == 0
    conflict = clienv.cli("runs", "status", ok, "--run", bad)
    assert conflict.returncode == 2
    assert conflict.stderr.strip() == f"error: two runs given: {ok} and --run {bad}; give one"

    assert clienv.cli("pipeline", "explain", "ok").stdout == \
        clienv.cli("pipeline", "explain", "--name", "ok").stdout
    assert clienv.cli("pipeline", "describe", "ok").stdout.startswith("ok\n")
    missing = clienv.cli("pipeline", "explain")
    assert missing.returncode == 2 and "missing pipeline name" in missing.stderr
    made = clienv.cli("pipeline", "new", "fresh-one")
    assert made.returncode == 0, made.stderr
    assert (clienv.repo / ".sparkwing" / "pipelines" / "fresh_one.py").exists()
