"""Plain-word shell commands start their program directly instead of through ``bash -c``
(:mod:`sparkwing.runtime.directexec`): which commands qualify, that the program sees the
environment real bash would give it (bash itself is the oracle), and that exit codes,
bash's own error messages, timeouts and a SIGKILL of sparkwing behave as through bash."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sparkwing.runtime.directexec import direct_command
from sparkwing.testing.procs import pids_with_arg, unique_sleep, wait_for

Project = Any
def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASH")}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.mark.parametrize("command", ["env", "make -j2 FOO=1 --file=x.mk", "true", "false",
                                     "  env   -u A\tX=1  ", "/usr/bin/env", "./tool a,b c:d"])
def test_plain_word_commands_start_directly(command: str, tmp_path: Path) -> None:
    plan = direct_command(command, _env(), str(tmp_path))
    assert plan is not None
    assert plan.argv == command.split()


@pytest.mark.parametrize("command", [
    "echo hi", "cd /", "exec env", "true x", "false 1", "if", "time env", "test -f x",
    "env; env", "env | cat", "env > out", "env &", "env $HOME", "env '$x'", 'env "x"',
    "env ~", "env *", "env ?", "env [a]", "env {a,b}", "env #c", "env\nenv", "A=1 env",
    "%1", "(env)", "env \\x", "no-such-program-sw-x", "",
])
def test_shell_syntax_builtins_and_unknown_programs_go_through_bash(
        command: str, tmp_path: Path) -> None:
    assert direct_command(command, _env(), str(tmp_path)) is None


@pytest.mark.parametrize("changes", [
    {"BASH_ENV": "/tmp/rc"}, {"BASH_FUNC_env%%": "() { echo fn; }"}, {"IFS": ":"},
    {"SHELLOPTS": "xtrace"}, {"POSIXLY_CORRECT": "1"}, {"SHLVL": "999"}, {"SHLVL": "007"},
    {"SHLVL": "-1"}, {"PATH": None}, {"PATH": "bin:/usr/bin:/bin"}, {"PATH": ":/usr/bin:/bin"},
    {"PATH": "/nonexistent-sw"},
])
def test_environments_bash_would_act_on_go_through_bash(
        changes: dict[str, str | None], tmp_path: Path) -> None:
    assert direct_command("env", _env(**changes), str(tmp_path)) is None


def _env_lines(argv: list[str], env: dict[str, str], cwd: str,
               executable: str | None = None) -> list[str]:
    out = subprocess.run(argv, executable=executable, env=env, cwd=cwd, check=True,
                         stdout=subprocess.PIPE, stdin=subprocess.DEVNULL).stdout
    return sorted(out.decode().split("\0"))


@pytest.mark.parametrize("changes", [
    {}, {"SHLVL": None}, {"SHLVL": "4"}, {"SHLVL": "998"}, {"OLDPWD": "/nonexistent-sw"},
    {"OLDPWD": "/"}, {"OLDPWD": ""}, {"OLDPWD": "sub"}, {"PWD": None}, {"PWD": "/"},
    {"PWD": "relative"}, {"PWD": "CWD/"}, {"PWD": "CWD/./"}, {"PWD": "LINK"},
    {"PATH": "/usr/bin/:/bin"}, {"PATH": "/usr//bin:/bin"}, {"_": "/x"},
    {"A-B": "odd name", "SECONDS": "5", "HOSTNAME": "h", "UID": "1"},
])
@pytest.mark.parametrize("where", ["dir", "link"])
def test_the_program_gets_the_environment_bash_gives_it(
        changes: dict[str, str | None], where: str, tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "sub").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real)
    cwd = str(real if where == "dir" else link)
    resolved = {k: None if v is None else v.replace("CWD", cwd).replace("LINK", str(link))
                for k, v in changes.items()}
    env = _env(**resolved)
    plan = direct_command("env -0", env, cwd)
    assert plan is not None
    direct = _env_lines(plan.argv, plan.env, cwd, plan.executable)
    assert direct == _env_lines(["bash", "-c", "env -0"], env, cwd)


def test_exit_codes_and_bash_messages_are_kept(project: Project) -> None:
    script = project.root / "plain.sh"
    script.write_text("echo from-script-without-shebang\n")
    script.chmod(0o755)
    (project.root / "notexec").write_text("echo never\n")
    project.add("codes", """
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("ok", sw.sh("true"))
            plan.job("no", sw.sh("false"))
            plan.job("missing", sw.sh("no-such-program-sw-x --flag"))
            plan.job("script", sw.sh("./plain.sh"))
            plan.job("denied", sw.sh("./notexec"))
            plan.job("args", sw.sh("printenv SPARKWING_NODE_ID"))
    """)
    r = project.run("run", "codes", timeout=120)
    assert r.code != 0
    run = project.last_run()
    nodes = project.nodes(run.id)
    assert nodes["ok"].outcome == "success" and nodes["script"].outcome == "success"
    assert nodes["args"].outcome == "success"
    assert nodes["no"].outcome == "failed" and nodes["no"].exit_code == 1
    assert nodes["missing"].exit_code == 127 and nodes["denied"].exit_code == 126

    def msgs(node: str) -> list[str]:
        return [str(rec.get("msg", "")) for rec in project.log_records(run.id, node)]

    assert "$ true" in msgs("ok")
    assert any("no-such-program-sw-x: command not found" in m for m in msgs("missing"))
    assert "from-script-without-shebang" in msgs("script")
    assert any("Permission denied" in m for m in msgs("denied"))
    assert "args" in msgs("args")


def test_timeout_kills_a_directly_started_command(project: Project, reaper: list[str]) -> None:
    arg = unique_sleep()
    reaper.append(arg)
    assert direct_command(f"sleep {arg}", _env(), str(project.root)) is not None
    project.add("slow", f"""
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("slow", sw.sh("sleep {arg}")).timeout(1)
    """)
    r = project.run("run", "slow", timeout=120)
    assert r.code != 0
    node = project.nodes(project.last_run().id)["slow"]
    assert node.outcome == "failed"
    wait_for(lambda: not pids_with_arg(arg), timeout=30)


def test_sigkill_of_sparkwing_kills_a_directly_started_command(
        project: Project, reaper: list[str]) -> None:
    arg = unique_sleep()
    reaper.append(arg)
    project.add("hang", f"""
        import sparkwing as sw
        def plan(plan, inputs, run):
            plan.job("hang", sw.sh("sleep {arg}"))
    """)
    proc = project.popen("run", "hang")
    try:
        wait_for(lambda: bool(pids_with_arg(arg)), timeout=60)
        pid = pids_with_arg(arg)[0]
        assert os.getpgid(pid) == pid  # the program leads its own process group
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    wait_for(lambda: not pids_with_arg(arg), timeout=30)


def test_a_changed_os_environ_is_seen_by_the_next_command(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The copy of ``os.environ`` kept between commands is dropped as soon as it changes."""
    monkeypatch.setenv("SW_DIRECT_PROBE", "one")
    first = direct_command("true", os.environ, str(tmp_path))
    assert first is not None and first.env["SW_DIRECT_PROBE"] == "one"
    again = direct_command("true", os.environ, str(tmp_path))
    assert again is not None and again.env == first.env and again.env is not first.env
    monkeypatch.setenv("SW_DIRECT_PROBE", "two")
    changed = direct_command("true", os.environ, str(tmp_path))
    assert changed is not None and changed.env["SW_DIRECT_PROBE"] == "two"
    monkeypatch.setenv("BASH_ENV", str(tmp_path / "rc"))  # bash would read it: bash it is
    assert direct_command("true", os.environ, str(tmp_path)) is None
    monkeypatch.delenv("BASH_ENV")
    monkeypatch.delenv("SW_DIRECT_PROBE")
    gone = direct_command("true", os.environ, str(tmp_path))
    assert gone is not None and "SW_DIRECT_PROBE" not in gone.env


def test_the_bash_probe_is_remembered_per_binary(tmp_path: Path) -> None:
    """A bash is probed once per binary: the answer is kept owner-only under the home, read
    back by later processes, and asked again when the binary changes or the entry is bad."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    bash = bindir / "bash"
    bash.write_bytes(Path(shutil.which("bash") or "/bin/bash").read_bytes())
    bash.chmod(0o755)
    home = tmp_path / "home"
    env = _env(SPARKWING_HOME=str(home), PATH=f"{bindir}:/usr/bin:/bin")
    script = ("import os, sys\nfrom sparkwing.runtime.directexec import direct_command\n"
              "print(direct_command('env', os.environ, '/') is not None)")

    def direct() -> bool:
        out = subprocess.run([sys.executable, "-c", script], env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        return out == "True"

    assert direct()
    cache = home / "cache" / "bash"
    [entry] = cache.iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600 and cache.stat().st_mode & 0o777 == 0o700
    remembered = json.loads(entry.read_text())
    assert remembered["usable"] is True and "echo" in remembered["reserved"]
    # Later processes read the entry instead of asking bash: an entry that calls ``env`` a
    # builtin sends it through bash.
    entry.write_text(json.dumps({**remembered, "reserved": [*remembered["reserved"], "env"]}))
    assert not direct()
    # A changed binary is a new key: probed again, the stale entry ignored.
    stamp = bash.stat().st_mtime_ns + 1_000_000_000
    os.utime(bash, ns=(stamp, stamp))
    assert direct()
    assert len(list(cache.iterdir())) == 2
    # An unreadable entry is probed again and rewritten.
    current = max(cache.iterdir(), key=lambda e: e.stat().st_mtime_ns)
    current.write_text("{not json")
    assert direct()
    assert json.loads(current.read_text())["usable"] is True
