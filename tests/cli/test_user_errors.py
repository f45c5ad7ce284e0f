"""Errors that point at the user's own line, typos that get a suggestion, and safe log replay."""

from __future__ import annotations

import re
import subprocess

from .conftest import CliEnv, on_a_terminal


def one_line(proc: subprocess.CompletedProcess[str], code: int) -> str:
    """Assert exit *code* with exactly one ``error: ...`` line on stderr; return the message."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0][len("error: "):]


# -- the user's file and line ------------------------------------------------------------


def test_a_syntax_error_names_the_file_and_line(clienv: CliEnv) -> None:
    clienv.add_pipeline("syn", '''
        import sparkwing as sw

        def plan(plan, inputs, run)
            plan.job("a", sw.sh("true"))
    ''')
    for args in (("run", "syn"), ("pipeline", "explain", "syn"), ("pipeline", "describe", "syn")):
        msg = one_line(clienv.cli(*args), 2)
        assert msg.startswith(".sparkwing/pipelines/syn.py:3: "), msg
        assert 'pipeline "syn" failed to import' in msg and "SyntaxError" in msg
    # from a subdirectory the path is relative to where the command runs
    sub = clienv.repo / "src"
    sub.mkdir()
    msg = one_line(clienv.cli("run", "syn", cwd=sub), 2)
    assert msg.startswith("../.sparkwing/pipelines/syn.py:3: "), msg


def test_an_import_failure_names_the_importing_line(clienv: CliEnv) -> None:
    clienv.add_pipeline("imp", '''
        import sparkwing as sw
        import a_module_that_is_not_installed

        def plan(plan, inputs, run):
            plan.job("a", sw.sh("true"))
    ''')
    msg = one_line(clienv.cli("run", "imp"), 2)
    assert msg.startswith(".sparkwing/pipelines/imp.py:2: "), msg
    assert "No module named 'a_module_that_is_not_installed'" in msg


def test_a_raising_plan_names_the_innermost_line_in_the_project(clienv: CliEnv) -> None:
    (clienv.repo / ".sparkwing" / "pipelines" / "helpers.py").write_text(
        "def targets(n):\n"
        "    table = {}\n"
        "    return table[f'missing-{n}']\n"
    )
    clienv.add_pipeline("boom", '''
        import sparkwing as sw
        from pipelines import helpers

        def plan(plan, inputs, run):
            plan.job("a", sw.sh("true"))
            helpers.targets(3)
    ''')
    for args in (("run", "boom"), ("pipeline", "explain", "boom")):
        msg = one_line(clienv.cli(*args), 2)
        assert msg.startswith(".sparkwing/pipelines/helpers.py:3: "), msg
        assert "building the plan of pipeline \"boom\" failed: KeyError: 'missing-3'" in msg


def test_a_plan_error_from_sparkwing_names_the_users_call(clienv: CliEnv) -> None:
    clienv.add_pipeline("dup", '''
        import sparkwing as sw

        def plan(plan, inputs, run):
            plan.job("a", sw.sh("true"))
            plan.job("a", sw.sh("true"))
    ''')
    msg = one_line(clienv.cli("run", "dup"), 2)
    assert msg == '.sparkwing/pipelines/dup.py:5: duplicate node id "a" in pipeline "dup"'


# -- did you mean --------------------------------------------------------------------------


def test_a_mistyped_sparkwing_flag_of_run_gets_a_suggestion(clienv: CliEnv) -> None:
    msg = one_line(clienv.cli("run", "ok", "--sw-worker", "2"), 2)
    assert "unknown sparkwing flag --sw-worker; did you mean --sw-workers?" in msg
    msg = one_line(clienv.cli("run", "ok", "--sw-dryrun"), 2)
    assert "did you mean --sw-dry-run?" in msg


def test_click_errors_speak_sparkwing(clienv: CliEnv) -> None:
    cases = {
        ("runs", "list", "--limt", "3"):
            "unknown flag --limt for 'sparkwing runs list'; did you mean --limit? "
            "(see 'sparkwing runs list --help')",
        ("runs", "lst"):
            "unknown command 'lst' for 'sparkwing runs'; did you mean 'list'? "
            "(see 'sparkwing runs --help')",
        ("runz",): "unknown command 'runz' for 'sparkwing'; did you mean 'run'? "
                   "(see 'sparkwing --help')",
        ("runs", "list", "--limit", "x"):
            "--limit: 'x' is not a valid integer range (see 'sparkwing runs list --help')",
        ("runs", "list", "--status"): "--status needs a value",
        ("runs", "status", "a", "b"):
            "unexpected argument b for 'sparkwing runs status' "
            "(see 'sparkwing runs status --help')",
        ("debug", "release", "--run", "x"):
            "missing --node NODE_ID (see 'sparkwing debug release --help')",
    }
    for args, expected in cases.items():
        assert one_line(clienv.cli(*args), 2) == expected, args


def test_a_group_without_a_command_shows_its_help(clienv: CliEnv) -> None:
    for args in ((), ("runs",), ("dashboard",)):
        proc = clienv.cli(*args)
        assert proc.returncode == 0 and proc.stderr == "", args
        assert proc.stdout.startswith("Usage: sparkwing"), args
        assert "Commands:" in proc.stdout


def test_command_lists_are_not_cut_off(clienv: CliEnv) -> None:
    proc = clienv.cli("--help", env={"COLUMNS": "60"})
    listing = proc.stdout.split("Commands:", 1)[1]
    assert "..." not in listing.replace("cancel, ...)", "")
    flat = " ".join(listing.split())
    assert "Check the home and the profile's stores: files, full database integrity, " \
           "free space." in flat
    assert "Run a pipeline here and record it (see `sparkwing run --help`)." in flat


def test_list_defaults_are_shown_as_typed(clienv: CliEnv) -> None:
    clienv.add_pipeline("inp", '''
        from dataclasses import dataclass
        import sparkwing as sw

        @dataclass
        class Inputs:
            targets: list[str] = sw.arg(default_factory=lambda: ["linux", "mac"], help="where")

        def plan(plan, inputs: Inputs, run):
            plan.job("a", sw.sh("true"))
    ''')
    out = clienv.cli("pipeline", "describe", "inp").stdout
    assert "--targets list  where (default linux,mac)" in out


# -- replaying job output on a terminal ------------------------------------------------------

ESCAPES = (r"printf '\033]0;pwned\007title-line\n\033[2J\033[Hcleared-line\n"
           r"\033[31mred-word\033[0m plain\n\033[5;5Hmoved\033(0\n'")


def test_runs_logs_drops_control_sequences_without_colour(clienv: CliEnv) -> None:
    clienv.add_pipeline("esc", f'''
        import sparkwing as sw

        def plan(plan, inputs, run):
            plan.job("esc", sw.sh({ESCAPES!r}))
    ''')
    run_id = clienv.run("esc")
    for fmt in ("pretty", "plain"):
        out = clienv.cli("runs", "logs", run_id, "--node", "esc", "-o", fmt).stdout
        assert "\x1b" not in out and "\x07" not in out, repr(out)
        for text in ("title-line", "cleared-line", "red-word plain", "moved"):
            assert text in out
    # the raw records keep everything (escaped inside JSON)
    raw = clienv.cli("runs", "logs", run_id, "--node", "esc", "-o", "json").stdout
    assert "\\u001b]0;pwned" in raw


def test_runs_logs_keeps_only_colours_on_a_terminal(clienv: CliEnv) -> None:
    clienv.add_pipeline("esc", f'''
        import sparkwing as sw

        def plan(plan, inputs, run):
            plan.job("esc", sw.sh({ESCAPES!r}))
    ''')
    run_id = clienv.run("esc")
    out = on_a_terminal(clienv, "runs", "logs", run_id, "--node", "esc")
    assert "\x1b[31mred-word\x1b[0m plain" in out
    assert "\x1b]" not in out and "\x07" not in out
    assert not re.search(r"\x1b\[[0-9;]*[A-Za-ln-z]", out), repr(out)  # only ...m sequences
    assert "\x1b(" not in out
