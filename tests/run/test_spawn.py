"""Commands started with ``posix_spawn`` (:mod:`sparkwing.runtime.spawn`) get what ``Popen`` gave.

The unit tests start real programs with :func:`~sparkwing.runtime.spawn.spawn`;
the end-to-end ones run ``sparkwing run`` with a descriptor it could leak and
read what the command itself sees in ``/proc/self``. Also here: a quick
silent job's records stay in the log index, and a silent long command's
``$ line`` still reaches readers while it runs (the lazy flush of
:mod:`sparkwing.runtime.nodelog`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sparkwing.runtime.spawn import SpawnedProcess, make_inherited_private, spawn
from sparkwing.testing.procs import wait_for

Project = Any


def _read_all(child: SpawnedProcess) -> bytes:
    chunks = []
    while data := os.read(child.stdout.fileno(), 65536):
        chunks.append(data)
    child.stdout.close()
    return b"".join(chunks)


def _spawn(argv: list[str], **kwargs: Any) -> SpawnedProcess:
    child = spawn(argv[0], argv, dict(os.environ), os.getcwd(), merge_stderr=True, **kwargs)
    assert child is not None, "posix_spawn is available on this Linux"
    return child


def test_output_exit_code_and_a_new_session() -> None:
    child = _spawn(["/bin/sh", "-c", "echo out; echo err >&2; ps -o sid= -p $$; exit 3"])
    lines = _read_all(child).decode().split()
    assert child.wait() == 3 and child.returncode == 3
    assert lines[:2] == ["out", "err"]
    assert int(lines[2]) == child.pid  # the session leader: its own session and group
    assert os.getsid(0) != child.pid


def test_stderr_on_its_own_pipe_when_not_merged() -> None:
    child = spawn("/bin/sh", ["/bin/sh", "-c", "echo out; echo err >&2"], dict(os.environ),
                  None, merge_stderr=False)
    assert child is not None and child.stderr is not None
    err = os.read(child.stderr.fileno(), 100)
    assert _read_all(child) == b"out\n" and err == b"err\n"
    child.stderr.close()
    child.stderr.close()  # closing twice is harmless
    assert child.wait() == 0


def test_another_working_directory_is_left_to_popen(tmp_path: Path) -> None:
    assert spawn("/bin/true", ["true"], dict(os.environ), str(tmp_path), merge_stderr=True) is None


def test_a_program_that_cannot_start_is_an_oserror(tmp_path: Path) -> None:
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        spawn(str(tmp_path / "missing"), ["missing"], dict(os.environ), None, merge_stderr=True)
    script = tmp_path / "noexec"
    script.write_text("echo hi\n")
    with pytest.raises(PermissionError):
        spawn(str(script), ["noexec"], dict(os.environ), None, merge_stderr=True)
    assert set(os.listdir("/proc/self/fd")) == before  # no pipe end left open


def test_wait_with_a_timeout_then_killed_by_a_signal() -> None:
    child = _spawn(["/bin/sleep", "30"])
    with pytest.raises(subprocess.TimeoutExpired):
        child.wait(timeout=0.05)
    assert child.poll() is None
    os.killpg(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert child.poll() == -signal.SIGKILL
    child.stdout.close()


def test_the_child_gets_sigpipe_and_sigxfsz_back() -> None:
    # Python ignores SIGPIPE (and SIGXFSZ); an ignored signal stays ignored across exec.
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    child = _spawn(["/bin/grep", "SigIgn", "/proc/self/status"])
    ignored = int(_read_all(child).split()[1], 16)
    assert child.wait() == 0
    assert not ignored & (1 << (signal.SIGPIPE - 1)), hex(ignored)
    assert not ignored & (1 << (signal.SIGXFSZ - 1)), hex(ignored)


def test_inherited_descriptors_do_not_reach_a_spawned_child() -> None:
    # In a fresh interpreter that inherited descriptor 40, as sparkwing might from its parent.
    code = (
        "import os, sys\n"
        "from sparkwing.runtime.spawn import spawn\n"
        "c = spawn('/bin/ls', ['ls', '/proc/self/fd'], dict(os.environ), None, merge_stderr=True)\n"
        "out = b''\n"
        "while d := os.read(c.stdout.fileno(), 4096): out += d\n"
        "c.wait()\n"
        "print(os.get_inheritable(40), sorted(int(x) for x in out.split()))\n"
    )
    r, w = os.pipe()
    os.dup2(r, 40)
    try:
        shown = subprocess.run([sys.executable, "-c", code], pass_fds=(40,), capture_output=True,
                               text=True, timeout=60, check=True).stdout.split(" ", 1)
    finally:
        for fd in (r, w, 40):
            os.close(fd)
    assert shown[0] == "False"  # marked close-on-exec in sparkwing's process
    assert shown[1].strip() == "[0, 1, 2, 3]"  # 3: ls's own listing of /proc/self/fd


def test_make_inherited_private_is_once_per_process() -> None:
    assert make_inherited_private() is True
    r, w = os.pipe()
    try:
        os.set_inheritable(r, True)
        assert make_inherited_private() is True
        assert os.get_inheritable(r)  # made after the sweep: left as its owner set it
    finally:
        os.close(r)
        os.close(w)


def test_a_run_leaks_no_descriptor_to_its_commands(project: Project) -> None:
    project.add("fds", """
        import sparkwing as sw

        def plan(plan, inputs, run):
            plan.job("fds", sw.sh("ls /proc/self/fd"))
            plan.job("ignored", sw.sh("grep SigIgn /proc/self/status"))
    """)
    r, w = os.pipe()
    os.dup2(w, 41)
    try:
        done = subprocess.run([sys.executable, "-m", "sparkwing_cli.main", "run", "fds"],
                              cwd=project.root, env=project.env, pass_fds=(41,),
                              capture_output=True, text=True, timeout=120)
    finally:
        for fd in (r, w, 41):
            os.close(fd)
    assert done.returncode == 0, done.stderr
    run = project.last_run()

    def output(node: str) -> list[str]:
        return [str(rec["msg"]) for rec in project.log_records(run.id, node)
                if rec.get("event") == "exec_line"]

    assert sorted(int(x) for x in output("fds")) == [0, 1, 2, 3]
    ignored = int(output("ignored")[0].split()[1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1)), hex(ignored)


def test_quick_silent_jobs_keep_their_records_in_the_index(project: Project) -> None:
    project.add("quiet", """
        import sparkwing as sw

        def plan(plan, inputs, run):
            for i in range(3):
                plan.job(f"q{i}", sw.sh("true"))
    """)
    r = project.run("run", "quiet")
    assert r.code == 0, r.err
    run = project.last_run()
    run_dir = project.home / "runs" / run.id
    assert not list(run_dir.glob("q*.log"))
    for i in range(3):
        records = project.log_records(run.id, f"q{i}")
        assert [rec.get("event") for rec in records] == ["node_start", "exec_start", "node_end"]
        assert records[1]["msg"] == "$ true"


def test_a_silent_command_line_is_visible_while_it_runs(project: Project) -> None:
    project.add("slow", """
        import sparkwing as sw

        def plan(plan, inputs, run):
            plan.job("wait", sw.sh("sleep 30"))
    """)
    proc = project.popen("run", "slow")
    try:
        def shown() -> bool:
            runs = project.home / "runs"
            if not runs.exists() or not any(runs.iterdir()):
                return False
            try:
                run = project.last_run()
            except AssertionError:
                return False
            return any(rec.get("msg") == "$ sleep 30"
                       for rec in project.log_records(run.id, "wait"))

        wait_for(shown, timeout=25)
        assert proc.poll() is None  # the command still runs: its line was flushed, not closed
        assert project.nodes(project.last_run().id)["wait"].status == "running"
    finally:
        proc.kill()
        proc.communicate(timeout=60)


def test_captured_output_of_a_spawned_program(project: Project) -> None:
    (project.root / "data.json").write_text('{"n": [1, 2]}\n')
    project.add("cap", """
        import sparkwing as sw

        def body(ctx):
            text = ctx.sh("printenv SPARKWING_NODE_ID", capture="text")
            lines = ctx.sh("ls -1 .sparkwing", capture="lines")
            data = ctx.sh("cat data.json", capture="json")
            missing = ctx.sh("ls no-such-file-sw", capture="text", check=False)
            return {"text": text, "lines": lines, "data": data, "missing": missing}

        def plan(plan, inputs, run):
            plan.job("cap", body)
    """)
    r = project.run("run", "cap")
    assert r.code == 0, r.err
    node = project.nodes(project.last_run().id)["cap"]
    assert node.output == {"text": "cap", "lines": ["pipelines", "sparkwing.yaml"],
                           "data": {"n": [1, 2]}, "missing": ""}
    run = project.last_run()
    errors = [rec["msg"] for rec in project.log_records(run.id, "cap")
              if rec.get("event") == "exec_line"]
    assert any("no-such-file-sw" in m for m in errors)  # stderr still logged while capturing
