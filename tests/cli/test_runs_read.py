"""`sparkwing runs list|status|logs|errors|get` against runs recorded by the real CLI."""

from __future__ import annotations

import json
import textwrap


def one_line_error(proc, code: int) -> str:
    """Assert a one-line ``error: ...`` with *code* and no traceback; return the message."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0][len("error: "):]


def test_list_table_json_quiet_and_filters(recorded) -> None:
    env, (ok1, bad, ok2) = recorded
    table = env.cli("runs", "list")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["RUN", "PIPELINE", "STATUS", "REF", "TRIGGER", "STARTED",
                                "DURATION"]
    assert [ln.split()[0] for ln in lines[1:]] == [ok2, bad, ok1]
    assert lines[2].split()[1:4] == ["broken", "failed", "-"]
    assert "\x1b[" not in table.stdout  # not a terminal: no colour

    quiet = env.cli("runs", "list", "-q")
    assert quiet.stdout.splitlines() == [ok2, bad, ok1]

    js = env.cli("runs", "list", "-o", "json")
    rows = [json.loads(ln) for ln in js.stdout.splitlines()]
    assert [r["id"] for r in rows] == [ok2, bad, ok1]
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "jobs failed: bad; cancelled: never"
    assert "plan" not in rows[0] and rows[0]["duration_s"] >= 0

    assert env.cli("runs", "list", "-q", "--pipeline", "broken").stdout.split() == [bad]
    assert env.cli("runs", "list", "-q", "--pipeline", "!broken").stdout.split() == [ok2, ok1]
    assert env.cli("runs", "list", "-q", "--status", "success").stdout.split() == [ok2, ok1]
    assert env.cli("runs", "list", "-q", "--status", "!success").stdout.split() == [bad]
    assert env.cli("runs", "list", "-q", "--status", "failed", "--status",
                   "success").stdout.split() == [ok2, bad, ok1]
    assert env.cli("runs", "list", "-q", "--limit", "1").stdout.split() == [ok2]
    assert env.cli("runs", "list", "-q", "--search", bad[-6:]).stdout.split() == [bad]
    assert env.cli("runs", "list", "-q", "--since", "1h").stdout.split() == [ok2, bad, ok1]
    assert env.cli("runs", "list", "-q", "--branch", "nope").stdout == ""
    # an empty list is empty output in JSON
    empty = env.cli("runs", "list", "-o", "json", "--pipeline", "nope")
    assert empty.returncode == 0 and empty.stdout == ""


def test_list_bad_flags_are_one_line_usage_errors(clienv) -> None:
    msg = one_line_error(clienv.cli("runs", "list", "--status", "green"), 2)
    assert "green" in msg and "success" in msg
    msg = one_line_error(clienv.cli("runs", "list", "--since", "yesterdayish"), 2)
    assert "yesterdayish" in msg
    one_line_error(clienv.cli("runs", "list", "--limit", "0"), 2)
    one_line_error(clienv.cli("runs", "list", "-o", "yaml"), 2)


def test_list_with_no_runs(clienv) -> None:
    proc = clienv.cli("runs", "list")
    assert proc.returncode == 0
    assert proc.stdout.strip() == "no runs found"


def test_status_exit_codes_and_json(recorded) -> None:
    env, (ok1, bad, _ok2) = recorded
    ok = env.cli("runs", "status", "--run", ok1)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].split() == [ok1, "ok", "success"]
    assert "first" in ok.stdout and "second" in ok.stdout

    failed = env.cli("runs", "status", "--run", bad)
    assert failed.returncode == 1
    assert "before-failing" in failed.stdout and "to-stderr" in failed.stdout

    data = json.loads(env.cli("runs", "status", "--run", bad, "-o", "json").stdout)
    assert data["run"]["id"] == bad and data["run"]["status"] == "failed"
    assert data["log_path"] == str(env.sw_home / "runs" / bad)
    nodes = {n["node_id"]: n for n in data["nodes"]}
    assert nodes["good"]["outcome"] == "success" and nodes["good"]["excerpt"] is None
    assert nodes["bad"]["outcome"] == "failed" and nodes["bad"]["exit_code"] == 3
    assert nodes["bad"]["excerpt"]["lines"] == ["before-failing", "to-stderr"]
    assert nodes["never"]["outcome"] == "cancelled"
    assert all("steps" in n for n in data["nodes"])


def test_status_shows_steps_of_multi_step_jobs(clienv) -> None:
    clienv.add_pipeline("stepped", '''
        import sparkwing as sw

        class Build(sw.Job):
            def work(self, w):
                a = w.step("compile", lambda ctx: ctx.sh("echo compiling"))
                w.step("package", lambda ctx: ctx.sh("echo packaging")).needs(a)

        def plan(plan, inputs, run):
            plan.job("build", Build())
    ''')
    run_id = clienv.run("stepped")
    data = json.loads(clienv.cli("runs", "status", "--run", run_id, "-o", "json").stdout)
    steps = data["nodes"][0]["steps"]
    assert [(s["step_id"], s["status"]) for s in steps] == [("compile", "passed"),
                                                          ("package", "passed")]
    pretty = clienv.cli("runs", "status", "--run", run_id).stdout
    assert "· compile" in pretty and "· package" in pretty


def test_latest_and_last(recorded) -> None:
    env, (_ok1, _bad, ok2) = recorded
    for word in ("latest", "last"):
        data = json.loads(env.cli("runs", "get", "--run", word).stdout)
        assert data["run"]["id"] == ok2


def test_unknown_run_is_not_found_with_suggestion(recorded) -> None:
    env, (_ok1, bad, _ok2) = recorded
    msg = one_line_error(env.cli("runs", "status", "--run", "run-19990101-000000-abcd"), 1)
    assert msg == "run run-19990101-000000-abcd not found (see: sparkwing runs list)"
    # a prefix of an existing id
    msg = one_line_error(env.cli("runs", "logs", "--run", bad[:-3]), 1)
    assert msg == f"run {bad[:-3]} not found; did you mean {bad}?"
    # a typo in the random part: same second, nearest id
    typo = bad[:-1] + ("0" if bad[-1] != "0" else "1")
    msg = one_line_error(env.cli("runs", "errors", "--run", typo), 1)
    assert msg.startswith(f"run {typo} not found; did you mean run-")


def test_latest_with_no_runs(clienv) -> None:
    msg = one_line_error(clienv.cli("runs", "status", "--run", "latest"), 1)
    assert msg.startswith("no runs recorded yet")


def test_run_defaults_to_latest(clienv) -> None:
    msg = one_line_error(clienv.cli("runs", "status"), 1)
    assert msg.startswith("no runs recorded yet")


def test_logs_merged_by_time_and_per_node(recorded) -> None:
    env, (ok1, bad, _ok2) = recorded
    plain = env.cli("runs", "logs", "--run", ok1, "-o", "plain")
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0].startswith("[run] run " + ok1)
    assert lines[-1] == "[run] run success"
    order = [ln for ln in lines if ln in ("[first] alpha-one", "[first] alpha-two",
                                          "[second] beta-one")]
    assert order == ["[first] alpha-one", "[first] alpha-two", "[second] beta-one"]

    raw = env.cli("runs", "logs", "--run", ok1, "-o", "json").stdout.splitlines()
    records = [json.loads(ln) for ln in raw]
    assert [r["ts"] for r in records] == sorted(r["ts"] for r in records)
    assert {r.get("node", "") for r in records} == {"", "first", "second"}

    node = env.cli("runs", "logs", "--run", bad, "--node", "bad", "-o", "plain").stdout
    assert "before-failing\nto-stderr\n" in node
    assert "fine" not in node

    pretty = env.cli("runs", "logs", "--run", ok1, "--node", "first").stdout.splitlines()
    assert any(ln.endswith("alpha-one") for ln in pretty)
    assert all(ln[2] == ":" for ln in pretty)  # HH:MM:SS.mmm first


def test_logs_tail_head_grep(recorded) -> None:
    env, (ok1, _bad, _ok2) = recorded
    tail = env.cli("runs", "logs", "--run", ok1, "-o", "plain", "--tail", "1").stdout
    assert tail == "[run] run success\n"
    head = env.cli("runs", "logs", "--run", ok1, "-o", "plain", "--head", "1").stdout
    assert head.startswith("[run] run ") and head.count("\n") == 1
    grep = env.cli("runs", "logs", "--run", ok1, "-o", "plain", "--grep", "alpha").stdout
    assert "[first] alpha-one" in grep and "[first] alpha-two" in grep
    assert "beta" not in grep
    grep_tail = env.cli("runs", "logs", "--run", ok1, "--node", "first", "-o", "plain",
                        "--grep", "alpha", "--tail", "1").stdout
    assert grep_tail == "alpha-two\n"
    msg = one_line_error(env.cli("runs", "logs", "--run", ok1, "--tail", "1", "--head", "1"), 2)
    assert "--tail" in msg


def test_logs_unknown_node(recorded) -> None:
    env, (_ok1, bad, _ok2) = recorded
    msg = one_line_error(env.cli("runs", "logs", "--run", bad, "--node", "baad"), 1)
    assert msg == f'run {bad} has no job "baad"; did you mean "bad"?'
    msg = one_line_error(env.cli("runs", "logs", "--run", bad, "--node", "zzzzzzzz"), 1)
    assert msg == f'run {bad} has no job "zzzzzzzz" (jobs: good, bad, never)'


def test_errors(recorded) -> None:
    env, (ok1, bad, _ok2) = recorded
    pretty = env.cli("runs", "errors", "--run", bad)
    assert pretty.returncode == 0
    assert "✗ bad  (exit code 3)" in pretty.stdout
    assert "│ before-failing" in pretty.stdout and "│ to-stderr" in pretty.stdout
    assert f"sparkwing runs logs --run {bad} --node bad" in pretty.stdout
    data = json.loads(env.cli("runs", "errors", "--run", bad, "-o", "json").stdout)
    assert data["status"] == "failed" and data["error"] == "jobs failed: bad; cancelled: never"
    assert [f["node_id"] for f in data["failed"]] == ["bad"]
    failed = data["failed"][0]
    assert failed["exit_code"] == 3 and failed["excerpt"] == ["before-failing", "to-stderr"]
    assert failed["error"].startswith("bad: ")
    clean = env.cli("runs", "errors", "--run", ok1)
    assert clean.returncode == 0 and "no failed jobs" in clean.stdout


def test_get_is_raw_run_and_nodes(recorded) -> None:
    env, (ok1, _bad, _ok2) = recorded
    data = json.loads(env.cli("runs", "get", "--run", ok1).stdout)
    assert set(data) == {"run", "nodes"}
    assert data["run"]["plan"]["nodes"][0]["id"] == "first"
    assert [n["node_id"] for n in data["nodes"]] == ["first", "second"]


def test_reads_work_outside_a_project(recorded) -> None:
    env, (ok1, _bad, ok2) = recorded
    outside = env.tmp / "elsewhere"
    outside.mkdir()
    proc = env.cli("runs", "list", "-q", cwd=outside)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == ok2
    assert env.cli("runs", "status", "--run", ok1, cwd=outside).returncode == 0


def test_reads_follow_the_projects_default_profile(clienv) -> None:
    team_db = clienv.tmp / "team" / "state.db"
    team_logs = clienv.tmp / "team" / "logs"
    yaml = clienv.repo / ".sparkwing" / "sparkwing.yaml"
    yaml.write_text(textwrap.dedent(f"""\
        defaults:
          profile: team
        profiles:
          team:
            state: {{type: sqlite, path: {team_db}}}
            logs: {{type: filesystem, path: {team_logs}}}
            cache: {{type: filesystem, path: {clienv.tmp / 'team' / 'cache'}}}
        """) + yaml.read_text())
    run_id = clienv.run("ok")
    assert team_db.exists() and (team_logs / run_id).is_dir()
    # inside the project, reads use the team stores
    assert clienv.cli("runs", "list", "-q").stdout.split() == [run_id]
    status = json.loads(clienv.cli("runs", "status", "--run", run_id, "-o", "json").stdout)
    assert status["log_path"] == str(team_logs / run_id)
    # outside it, the laptop stores (which hold nothing), unless --profile says otherwise
    outside = clienv.tmp / "elsewhere"
    outside.mkdir()
    assert clienv.cli("runs", "list", "-q", cwd=outside).stdout == ""
    msg = one_line_error(clienv.cli("runs", "list", "--profile", "team", cwd=outside), 2)
    assert 'unknown profile "team"' in msg
