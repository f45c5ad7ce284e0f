"""``plugins.required`` in sparkwing.yaml: parsing, the check, and every command honouring it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sparkwing.config import load_project_file
from sparkwing.errors import ConfigError, PluginError
from sparkwing.plugins.manager import PluginHost
from sparkwing.plugins.required import check, ensure, install_command, problem_line
from sparkwing.testing.procs import isolated_env

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import Site

PIPELINE = """\
import sparkwing as sw


def plan(plan, inputs, run):
    plan.job("hello", sw.sh("echo hello"))
"""

MISSING_LINE = (
    ".sparkwing/sparkwing.yaml:5: plugins.required: sparkwing-teamcity>=0.1,<0.2 is not "
    "installed; install with: uv pip install 'sparkwing-teamcity>=0.1,<0.2'"
)


def project(root: Path, required: list[str] | str | None) -> Path:
    """A project with one pipeline ``hello`` and the given ``plugins:`` block; returns its file."""
    (root / ".sparkwing" / "pipelines").mkdir(parents=True)
    (root / ".sparkwing" / "pipelines" / "hello.py").write_text(PIPELINE)
    if isinstance(required, list):
        block = "plugins:\n  required:\n" + "".join(f"    - {r!r}\n" for r in required)
    else:
        block = required or ""
    file = root / ".sparkwing" / "sparkwing.yaml"
    file.write_text("# pinned plugins\n" + block +
                    "pipelines:\n  - name: hello\n    entrypoint: pipelines.hello:plan\n")
    return file


# -- parsing ---------------------------------------------------------------------------


def test_requirements_are_parsed_with_their_lines(tmp_path: Path) -> None:
    file = project(tmp_path, ["sparkwing-sqlite>=0.1,<0.2", "Sparkwing_Example", "x[extra]==1.*"])
    config = load_project_file(file)
    got = [(r.text, r.name, str(r.requirement.specifier), r.line) for r in config.required_plugins]
    assert got == [
        ("sparkwing-sqlite>=0.1,<0.2", "sparkwing-sqlite", "<0.2,>=0.1", 4),
        ("Sparkwing_Example", "Sparkwing_Example", "", 5),
        ("x[extra]==1.*", "x", "==1.*", 6),
    ]
    assert config.required_plugins[0].to_dict() == {
        "requirement": "sparkwing-sqlite>=0.1,<0.2", "name": "sparkwing-sqlite",
        "specifier": "<0.2,>=0.1", "line": 4,
    }


@pytest.mark.parametrize("block", [None, "plugins:\n", "plugins:\n  required: []\n",
                                   "plugins:\n  required:\n"])
def test_no_requirements(tmp_path: Path, block: str | None) -> None:
    assert load_project_file(project(tmp_path, block)).required_plugins == []


@pytest.mark.parametrize(("block", "message"), [
    (["sparkwing-postgres>>0.1"],
     '.sparkwing/sparkwing.yaml:4: bad requirement "sparkwing-postgres>>0.1" in plugins.required: '
     "expected semicolon (after name with no version specifier) or end (at character 19); "
     "write a distribution name and optional version specifiers, e.g. "
     "sparkwing-postgres>=0.1,<0.2"),
    (["ok-plugin", ">=1"],
     '.sparkwing/sparkwing.yaml:5: bad requirement ">=1" in plugins.required: expected package '
     "name at the start of dependency specifier (at character 1); write a distribution name and "
     "optional version specifiers, e.g. sparkwing-postgres>=0.1,<0.2"),
    (["sparkwing-x @ https://example.com/x.whl"],
     '.sparkwing/sparkwing.yaml:4: requirement "sparkwing-x @ https://example.com/x.whl" in '
     "plugins.required has a URL; write a distribution name and optional version specifiers, "
     "e.g. sparkwing-postgres>=0.1,<0.2"),
    (['sparkwing-x>=1; python_version < "3.12"'],
     '.sparkwing/sparkwing.yaml:4: requirement "sparkwing-x>=1; python_version < "3.12"" in '
     "plugins.required has an environment marker; write a distribution name and optional version "
     "specifiers, e.g. sparkwing-postgres>=0.1,<0.2"),
    (["sparkwing-postgres>=0.1", "Sparkwing_Postgres<0.2"],
     '.sparkwing/sparkwing.yaml:5: plugin "Sparkwing_Postgres" is required twice in '
     "plugins.required (first on line 4); merge the version ranges"),
    ("plugins: [sparkwing-postgres]\n",
     ".sparkwing/sparkwing.yaml:2: plugins must be a mapping, got a list"),
    ("plugins:\n  require: [sparkwing-postgres]\n",
     '.sparkwing/sparkwing.yaml:3: unknown key "require" in plugins; valid keys: required'),
    ("plugins:\n  required: sparkwing-postgres\n",
     '.sparkwing/sparkwing.yaml:3: plugins.required must be a list of strings, got '
     '"sparkwing-postgres"'),
    ("plugins:\n  required: ['']\n",
     ".sparkwing/sparkwing.yaml:3: plugins.required must not contain empty strings"),
])
def test_bad_blocks_are_one_line_config_errors(
    tmp_path: Path, block: list[str] | str, message: str,
) -> None:
    file = project(tmp_path, block)
    with pytest.raises(ConfigError) as info:
        load_project_file(file)
    assert str(info.value).replace(str(tmp_path) + "/", "") == message
    assert info.value.exit_code == 2


# -- the check, in process --------------------------------------------------------------


def statuses(tmp_path: Path, required: list[str], host: PluginHost | None = None) -> list[Any]:
    config = load_project_file(project(tmp_path, required))
    return check(config.required_plugins, host or PluginHost().load())


def test_installed_plugins_in_range_are_ok(tmp_path: Path) -> None:
    got = statuses(tmp_path / "a", ["sparkwing-sqlite>=0.1,<0.2", "sparkwing-core"])
    assert [(s.status, s.installed, s.problem) for s in got] == [
        ("ok", "0.1.0", ""), ("ok", "0.1.0", ""),
    ]
    assert got[0].plugins == ["sqlite"] and "builtin" in got[1].plugins
    (spelled,) = statuses(tmp_path / "b", ["SPARKWING_SQLITE"])  # names compare normalised
    assert (spelled.status, spelled.plugins) == ("ok", ["sqlite"])
    assert install_command(got) == "" and problem_line("f", got) == ""


def test_a_missing_plugin(tmp_path: Path) -> None:
    (s,) = statuses(tmp_path, ["sparkwing-teamcity>=0.1,<0.2"])
    assert (s.status, s.installed, s.problem) == (
        "missing", "", "sparkwing-teamcity>=0.1,<0.2 is not installed",
    )
    assert install_command([s]) == "uv pip install 'sparkwing-teamcity>=0.1,<0.2'"


def test_a_plugin_of_the_wrong_version(tmp_path: Path) -> None:
    (s,) = statuses(tmp_path, ["sparkwing-sqlite>=0.2"])
    assert (s.status, s.installed, s.problem) == (
        "wrong-version", "0.1.0", "sparkwing-sqlite 0.1.0 is installed, not sparkwing-sqlite>=0.2",
    )
    assert problem_line(".sparkwing/sparkwing.yaml", [s]) == (
        ".sparkwing/sparkwing.yaml:4: plugins.required: sparkwing-sqlite 0.1.0 is installed, not "
        "sparkwing-sqlite>=0.2; install with: uv pip install 'sparkwing-sqlite>=0.2'"
    )


def test_a_blocked_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKWING_DISABLE_PLUGINS", "sqlite")
    (s,) = statuses(tmp_path, ["sparkwing-sqlite"])
    assert (s.status, s.installed, s.plugins) == ("blocked", "0.1.0", ["sqlite"])
    assert problem_line(".sparkwing/sparkwing.yaml", [s]) == (
        ".sparkwing/sparkwing.yaml:4: plugins.required: sparkwing-sqlite 0.1.0 is installed but "
        "SPARKWING_DISABLE_PLUGINS blocks its plugin sqlite; remove sqlite from "
        "SPARKWING_DISABLE_PLUGINS"
    )


def test_a_broken_plugin(tmp_path: Path, site: Site) -> None:
    site("sparkwing-kaputt", "0.9.1", {"kaputt": "sw_req_kaputt"},
         {"sw_req_kaputt": "raise ImportError('needs libfoo >= 2')\n"})
    (s,) = statuses(tmp_path, ["sparkwing-kaputt~=0.9"])
    assert (s.status, s.installed, s.plugins) == ("broken", "0.9.1", ["kaputt"])
    assert s.problem == "sparkwing-kaputt 0.9.1 failed to load: ImportError: needs libfoo >= 2"
    assert install_command([s]) == "uv pip install 'sparkwing-kaputt~=0.9'"


def test_a_plugin_whose_registration_fails_is_broken(tmp_path: Path, site: Site) -> None:
    site("sparkwing-shadow", "1.0", {"zshadow": "sw_req_shadow"}, {"sw_req_shadow": """
        import sparkwing

        @sparkwing.hookimpl
        def sparkwing_register_backends(registry):
            registry.add_state_store("sqlite", lambda config, context: None)
    """})
    (s,) = statuses(tmp_path, ["sparkwing-shadow"])
    assert s.status == "broken"
    assert "is provided by both 'sqlite' and 'zshadow'" in s.problem


def test_a_plugin_built_for_a_newer_contract_is_broken(tmp_path: Path, site: Site) -> None:
    site("sparkwing-future", "3.0", {"future": "sw_req_future"},
         {"sw_req_future": "SPARKWING_CONTRACT = 99\n"})
    (s,) = statuses(tmp_path, ["sparkwing-future>=3"])
    assert s.status == "broken"
    assert s.problem.startswith("sparkwing-future 3.0 failed to load: built for sparkwing plugin "
                                "contract 99, but this sparkwing-core")


def test_a_distribution_that_is_not_a_plugin(tmp_path: Path) -> None:
    (s,) = statuses(tmp_path, ["pluggy>=1"])
    assert s.status == "not-a-plugin"
    assert s.problem.startswith("pluggy ") and s.problem.endswith(
        "is installed but publishes no sparkwing plugin (no [project.entry-points.sparkwing]); "
        "remove it from plugins.required"
    )
    assert install_command([s]) == ""


def test_several_problems_share_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKWING_DISABLE_PLUGINS", "sqlite")
    got = statuses(tmp_path, ["sparkwing-core", "sparkwing-sqlite", "sparkwing-teamcity>=1"])
    assert problem_line(".sparkwing/sparkwing.yaml", got) == (
        ".sparkwing/sparkwing.yaml: plugins.required: sparkwing-sqlite 0.1.0 is installed but "
        "SPARKWING_DISABLE_PLUGINS blocks its plugin sqlite (line 5); sparkwing-teamcity>=1 is not "
        "installed (line 6); install with: uv pip install 'sparkwing-teamcity>=1' and remove sqlite "
        "from SPARKWING_DISABLE_PLUGINS"
    )


def test_ensure_raises_the_line_as_a_plugin_error(tmp_path: Path) -> None:
    config = load_project_file(project(tmp_path, ["sparkwing-sqlite",
                                                  "sparkwing-teamcity>=0.1,<0.2"]))
    with pytest.raises(PluginError) as info:
        ensure(config, PluginHost().load())
    assert str(info.value) == MISSING_LINE.replace(
        ".sparkwing/sparkwing.yaml", config.shown)
    assert info.value.exit_code == 2


def test_ensure_without_requirements_never_loads_plugins(tmp_path: Path) -> None:
    host = PluginHost()  # not loaded: ensure must not need it
    ensure(load_project_file(project(tmp_path, None)), host)
    assert host.infos == {}


# -- every command, through the real CLI ---------------------------------------------------


def sparkwing(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=cwd, capture_output=True,
        text=True, timeout=120, env=isolated_env(cwd.parent / f"{cwd.name}-env", **env),
    )


@pytest.fixture
def pinned(tmp_path: Path) -> Path:
    """A project requiring the (installed) SQLite plugin and a missing PostgreSQL one."""
    root = tmp_path / "repo"
    project(root, ["sparkwing-sqlite>=0.1,<0.2", "sparkwing-teamcity>=0.1,<0.2"])
    return root


@pytest.mark.parametrize("args", [
    ["run", "hello"],
    ["run", "hello", "--sw-dry-run"],
    ["pipeline", "list"],
    ["pipeline", "show", "hello"],
    ["runs", "list"],
    ["profile"],
    ["cache", "ls"],
])
def test_every_command_stops_with_the_install_command(pinned: Path, args: list[str]) -> None:
    proc = sparkwing(pinned, *args)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr.splitlines() == [f"error: {MISSING_LINE}"]


def test_nothing_ran_or_was_recorded(pinned: Path) -> None:
    proc = sparkwing(pinned, "run", "hello")
    assert proc.returncode == 2
    home = pinned.parent / "repo-env" / "home"
    assert not (home / "state.db").exists() and not (home / "runs").exists()


def test_a_command_in_another_directory_checks_that_project(pinned: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["pipeline", "list", "-C", str(pinned)], ["pipeline", "list", f"--cd={pinned}"],
                 ["run", "hello", "-C", str(pinned)]):
        proc = sparkwing(elsewhere, *args)
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("error: ") and ".sparkwing/sparkwing.yaml:5: " \
            "plugins.required: sparkwing-teamcity>=0.1,<0.2 is not installed" in proc.stderr, \
            (args, proc.stderr)
        assert "uv pip install 'sparkwing-teamcity>=0.1,<0.2'" in proc.stderr


def test_help_and_the_plugin_commands_are_not_stopped(pinned: Path) -> None:
    for args in (["pipeline", "list", "--help"], ["--help"], ["--version"], ["plugins"],
                 ["plugins", "-o", "json"]):
        proc = sparkwing(pinned, *args)
        assert proc.returncode == 0, (args, proc.stderr)
        assert proc.stderr == ""


def test_a_satisfied_set_lets_commands_run(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    project(root, ["sparkwing-sqlite>=0.1,<0.2", "sparkwing-core>=0.1"])
    proc = sparkwing(root, "run", "hello", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert '"msg":"job hello succeeded"' in proc.stdout
    assert sparkwing(root, "pipeline", "list").returncode == 0


def test_plugins_check_reports_and_exits_2(pinned: Path) -> None:
    proc = sparkwing(pinned, "plugins", "check")
    assert proc.returncode == 2
    assert proc.stdout.splitlines() == [
        "sparkwing-sqlite>=0.1,<0.2           ok             sparkwing-sqlite 0.1.0",
        "sparkwing-teamcity>=0.1,<0.2         missing        "
        "sparkwing-teamcity>=0.1,<0.2 is not installed",
    ]
    assert proc.stderr.splitlines() == [f"error: {MISSING_LINE}"]


def test_plugins_check_json(pinned: Path) -> None:
    proc = sparkwing(pinned, "plugins", "check", "-o", "json")
    assert (proc.returncode, proc.stderr) == (2, "")
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["file"] == ".sparkwing/sparkwing.yaml"
    assert out["install"] == "uv pip install 'sparkwing-teamcity>=0.1,<0.2'"
    assert [(r["requirement"], r["status"], r["installed"], r["plugins"], r["line"])
            for r in out["required"]] == [
        ("sparkwing-sqlite>=0.1,<0.2", "ok", "0.1.0", ["sqlite"], 4),
        ("sparkwing-teamcity>=0.1,<0.2", "missing", "", [], 5),
    ]


def test_plugins_check_passes_when_satisfied_or_without_a_project(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    project(root, ["sparkwing-sqlite"])
    proc = sparkwing(root, "plugins", "check", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    bare = tmp_path / "bare"
    bare.mkdir()
    proc = sparkwing(bare, "plugins", "check")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "nothing is required" in proc.stdout


def test_plugins_check_sees_a_wrong_version_installed_beside_sparkwing(
    tmp_path: Path, site: Site,
) -> None:
    site("sparkwing-teamcity", "0.3.0", {"teamcity": "sw_req_pg"},
         {"sw_req_pg": "SPARKWING_CONTRACT = 1\n"})
    root = tmp_path / "repo"
    project(root, ["sparkwing-teamcity>=0.1,<0.2"])
    proc = sparkwing(root, "run", "hello", PYTHONPATH=str(site.root))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "error: .sparkwing/sparkwing.yaml:4: plugins.required: sparkwing-teamcity 0.3.0 is "
        "installed, not sparkwing-teamcity>=0.1,<0.2; install with: "
        "uv pip install 'sparkwing-teamcity>=0.1,<0.2'"
    ]
