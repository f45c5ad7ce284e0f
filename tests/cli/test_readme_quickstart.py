"""The README's quick start, typed exactly as written, in an empty directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

EXPECTED = [
    "mkdir hello-sparkwing && cd hello-sparkwing",
    "git init",
    "sparkwing pipeline new --name hello",
    "sparkwing run hello",
    "sparkwing runs list",
    "sparkwing runs logs --run latest",
]


def quickstart_blocks() -> list[list[str]]:
    """The bash code blocks of the README's "Quick start" section, as lists of lines."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines()
            for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_lists_the_commands() -> None:
    blocks = quickstart_blocks()
    assert blocks[0] == ["source .venv/bin/activate"]
    assert blocks[1] == EXPECTED
    # what the activation line relies on: the checkout's venv holds the command
    assert (REPO / ".venv" / "bin" / "activate").is_file()
    assert (REPO / ".venv" / "bin" / "sparkwing").is_file()


def test_readme_quickstart_runs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start = home / "work"
    start.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARKWING_", "VIRTUAL_ENV", "GIT_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), USER="newcomer",
               GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1")
    # the activation line, from the checkout (sys.prefix is the venv running these tests)
    script = [f"source {Path(sys.prefix) / 'bin' / 'activate'}", "set -e"]
    for index, line in enumerate(quickstart_blocks()[1]):
        script += [f"echo '=== {index}'", f"echo '=== {index}' >&2", line]
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=start, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outs = re.split(r"^=== \d+\n", proc.stdout, flags=re.M)[1:]
    assert len(outs) == len(EXPECTED), proc.stdout
    project = start / "hello-sparkwing"
    assert (project / ".git").is_dir()
    assert (project / ".sparkwing" / "sparkwing.yaml").is_file()
    assert "next: sparkwing run hello" in outs[2]
    # `run` is piped here, so it prints JSON records; it ends with the run's result
    assert '"event":"run_finish"' in outs[3] and '"status":"success"' in outs[3]
    listed = outs[4].splitlines()
    assert listed[0].split()[:3] == ["RUN", "PIPELINE", "STATUS"]
    assert listed[1].split()[1:3] == ["hello", "success"]
    run_id = listed[1].split()[0]
    logs = outs[5]
    assert f"run {run_id} of hello" in logs
    assert "hello from hello" in logs and "hello from run " + run_id in logs
    # recorded where the README says: ~/.sparkwing
    assert (home / ".sparkwing" / "state.db").is_file()
    assert (home / ".sparkwing" / "runs" / run_id / "hello.log").is_file()


def setup_block() -> list[str]:
    """The commands of the README's "Set up" block, comments stripped."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```bash\n(.*?)```", section, re.S)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_setup_block_is_install_example_tests_and_ci_runs_the_same_tests() -> None:
    install, example, tests = setup_block()
    assert install == "bash scripts/install.sh"
    assert example.startswith("uv run sparkwing run -C examples/")
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in [line.strip() for line in ci], ".ci/run must run the README's test command"


def test_setup_block_example_runs_on_the_embedded_default(tmp_path: Path) -> None:
    example = setup_block()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKWING_", "VIRTUAL_ENV"))}
    env.update(SPARKWING_HOME=str(tmp_path / "home"), NO_COLOR="1")
    argv = example.split()[2:]  # "uv run" is how a shell outside the venv reaches it
    proc = subprocess.run([str(Path(sys.prefix) / "bin" / argv[0]), *argv[1:]], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "home" / "state.db").is_file()
    assert '"status":"success"' in proc.stdout.replace(" ", "")
