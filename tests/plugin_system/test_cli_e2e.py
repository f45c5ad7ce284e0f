"""Third-party plugins installed from real distributions, driven through the real CLI.

``example_venv`` holds this checkout (editable) plus ``sparkwing-example``;
``broken_venv`` additionally has ``sparkwing-broken``, whose module cannot be
imported.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import ScratchVenv

REPO = Path(__file__).resolve().parents[2]

BROKEN_ERROR = "ModuleNotFoundError: No module named 'sparkwing_missing_dependency'"
BROKEN_WARNING = (
    'warning: plugin "broken" (sparkwing-broken 0.0.7) failed to load and was skipped: '
    + BROKEN_ERROR
)


def plugins_json(venv: ScratchVenv, **env: str) -> tuple[dict[str, dict[str, Any]], str]:
    proc = venv.run("plugins", "-o", "json", **env)
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)["plugins"]
    return {p["name"]: p for p in listed}, proc.stderr


def test_the_scratch_venv_runs_this_checkout(example_venv: ScratchVenv) -> None:
    code = "import sparkwing, sparkwing_cli, sparkwing_sqlite; print(sparkwing.__file__)"
    out = subprocess.run([str(example_venv.python), "-c", code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith(str(REPO / "sparkwing-core" / "src"))


def test_plugins_json_lists_builtin_sqlite_and_example(example_venv: ScratchVenv) -> None:
    proc = example_venv.run("plugins", "-o", "json")
    assert proc.returncode == 0 and proc.stderr == ""
    listed = json.loads(proc.stdout)["plugins"]
    # Internal plugins (sparkwing-core's own) come first, then third-party ones by name.
    internal = [p for p in listed if p["internal"]]
    assert listed[:len(internal)] == internal and internal[0]["name"] == "builtin"
    assert [p["name"] for p in listed[len(internal):]] == ["example", "sqlite"]
    builtin, (example, sqlite) = internal[0], listed[len(internal):]
    sources = next(p for p in internal if p["name"] == "builtin_sources")
    executors = next(p for p in internal if p["name"] == "builtin_executors")
    assert builtin == {
        "name": "builtin", "distribution": "sparkwing-core", "version": "0.1.0",
        "module": "sparkwing.storage.builtin", "internal": True, "contract": 1,
        "hooks": ["sparkwing_register_backends"],
        "provides": ["cache:controller", "cache:dir", "cache:filesystem", "logs:controller", "logs:dir",
                     "logs:filesystem", "state:controller", "state:dir"],
        "registers": {"state": ["controller", "dir"], "cache": ["controller", "dir", "filesystem"],
                      "logs": ["controller", "dir", "filesystem"],
                      "executor": [], "trigger": []},
        "commands": False, "routes": False, "observers": [], "error": "", "blocked": False,
    }
    assert sources == {
        "name": "builtin_sources", "distribution": "sparkwing-core", "version": "0.1.0",
        "module": "sparkwing.triggers.builtin_sources", "internal": True, "contract": 1,
        "hooks": ["sparkwing_register_triggers"],
        "provides": ["trigger:ci-embedded", "trigger:git-hook", "trigger:manual",
                     "trigger:retry", "trigger:schedule"],
        "registers": {"state": [], "cache": [], "logs": [], "executor": [],
                      "trigger": ["ci-embedded", "git-hook", "manual", "retry", "schedule"]},
        "commands": False, "routes": False, "observers": [], "error": "", "blocked": False,
    }
    assert executors == {
        "name": "builtin_executors", "distribution": "sparkwing-core", "version": "0.1.0",
        "module": "sparkwing.execution.builtin_executors", "internal": True, "contract": 1,
        "hooks": ["sparkwing_register_executors"],
        "provides": ["executor:local", "executor:process", "executor:queue"],
        "registers": {"state": [], "cache": [], "logs": [], "executor": ["local", "process",
                                                                          "queue"],
                      "trigger": []},
        "commands": False, "routes": False, "observers": [], "error": "", "blocked": False,
    }
    assert example == {
        "name": "example", "distribution": "sparkwing-example", "version": "0.3.1",
        "module": "sparkwing_example.plugin", "internal": False, "contract": 1,
        "hooks": ["sparkwing_add_cli_commands", "sparkwing_register_backends"],
        "provides": ["logs:example"],
        "registers": {"state": [], "cache": [], "logs": ["example"], "executor": [],
                      "trigger": []},
        "commands": True, "routes": False, "observers": [], "error": "", "blocked": False,
    }
    assert (sqlite["distribution"], sqlite["version"], sqlite["provides"]) == (
        "sparkwing-sqlite", "0.1.0", ["state:sqlite"],
    )


def test_plugins_pretty_output_names_what_each_provides(example_venv: ScratchVenv) -> None:
    proc = example_venv.run("plugins")
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("example "))
    assert "sparkwing-example 0.3.1" in header and header.rstrip().endswith("contract 1  ok")
    assert "  provides: logs:example" in lines
    assert "  adds:     CLI commands" in lines


def test_a_plugin_adds_a_cli_command(example_venv: ScratchVenv) -> None:
    proc = example_venv.run("example-hello")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0, "hello, world, from sparkwing-example\n", "",
    )
    proc = example_venv.run("example-hello", "ada")
    assert proc.stdout == "hello, ada, from sparkwing-example\n"


def test_help_lists_the_plugin_command_beside_the_built_ins(example_venv: ScratchVenv) -> None:
    proc = example_venv.run("--help")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")]
    assert "example-hello" in names and "run" in names and "plugins" in names


def test_an_unknown_command_is_still_a_one_line_usage_error(example_venv: ScratchVenv) -> None:
    proc = example_venv.run("example-goodbye")
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("error: ")


def test_the_plugin_backend_builds_a_working_log_store(example_venv: ScratchVenv) -> None:
    logs = example_venv.home / "example-logs"
    code = f"""
from pathlib import Path
from sparkwing.ids import new_run_id
from sparkwing.plugins.manager import get_host
from sparkwing.plugins.registry import BackendContext
from sparkwing.storage.contracts import LogStore
from sparkwing.storage.fs_logs import FilesystemLogStore
store = get_host().registry.create(
    "logs", {{"type": "example", "path": {str(logs)!r}}}, BackendContext(home=Path(".")))
assert isinstance(store, FilesystemLogStore) and isinstance(store, LogStore)
run = new_run_id()
store.append(run, "build", ['{{"msg": "one"}}', '{{"msg": "two"}}'])
print(type(store).__module__, type(store).__name__, store.read(run, "build").lines)
store.close()
"""
    proc = subprocess.run([str(example_venv.python), "-c", code], capture_output=True,
                          text=True, env=example_venv.env(), cwd=example_venv.home)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "sparkwing_example.store ExampleLogStore ['{\"msg\": \"one\"}', '{\"msg\": \"two\"}']"
    )
    assert any(logs.rglob("*")), "the store wrote nothing under its configured path"


# -- a broken plugin next to working ones ---------------------------------------


def test_a_broken_plugin_costs_one_warning_line(broken_venv: ScratchVenv) -> None:
    plugins, stderr = plugins_json(broken_venv)
    assert stderr.splitlines() == [BROKEN_WARNING]
    assert plugins["broken"] == {
        "name": "broken", "distribution": "sparkwing-broken", "version": "0.0.7",
        "module": "sparkwing_broken.plugin", "internal": False, "contract": None, "hooks": [],
        "provides": [], "registers": {"state": [], "cache": [], "logs": [], "executor": [],
                                      "trigger": []},
        "commands": False, "routes": False, "observers": [], "error": BROKEN_ERROR,
        "blocked": False,
    }
    assert plugins["example"]["provides"] == ["logs:example"]
    assert plugins["sqlite"]["error"] == ""


def test_pretty_listing_shows_the_failure(broken_venv: ScratchVenv) -> None:
    proc = broken_venv.run("plugins")
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [BROKEN_WARNING]
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("broken "))
    assert "sparkwing-broken 0.0.7" in header and header.rstrip().endswith("FAILED")
    assert f"  error:    {BROKEN_ERROR}" in lines


def test_other_plugins_keep_working_next_to_a_broken_one(broken_venv: ScratchVenv) -> None:
    proc = broken_venv.run("example-hello")
    assert proc.returncode == 0
    assert proc.stdout == "hello, world, from sparkwing-example\n"
    assert proc.stderr.splitlines() == [BROKEN_WARNING]


def test_strict_mode_turns_the_broken_plugin_into_a_one_line_error(
    broken_venv: ScratchVenv,
) -> None:
    proc = broken_venv.run("plugins", "-o", "json", SPARKWING_STRICT_PLUGINS="1")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f'error: plugin "broken" (sparkwing-broken 0.0.7) failed to load: {BROKEN_ERROR}'
    ]


def test_disabling_the_broken_plugin_silences_it(broken_venv: ScratchVenv) -> None:
    plugins, stderr = plugins_json(broken_venv, SPARKWING_DISABLE_PLUGINS="broken")
    assert stderr == ""
    assert plugins["broken"]["blocked"] is True
    assert plugins["broken"]["error"] == ""
    assert (plugins["broken"]["distribution"], plugins["broken"]["version"]) == (
        "sparkwing-broken", "0.0.7",
    )
    assert plugins["example"]["provides"] == ["logs:example"]
    # strict mode has nothing left to complain about
    proc = broken_venv.run(
        "plugins", SPARKWING_DISABLE_PLUGINS="broken", SPARKWING_STRICT_PLUGINS="1",
    )
    assert proc.returncode == 0 and proc.stderr == ""


def test_disabling_a_working_plugin_removes_its_command(broken_venv: ScratchVenv) -> None:
    proc = broken_venv.run("example-hello", SPARKWING_DISABLE_PLUGINS="broken,example")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
