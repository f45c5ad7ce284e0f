"""``sparkwing plugin new``: names, refusals, and what the generated code is made of.

Installing the generated distributions and running their own tests happens
in ``test_plugin_kit_e2e.py`` (scratch virtual environments).
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from sparkwing.errors import UsageError
from sparkwing.execution.contracts import CONTRACT_VERSION
from sparkwing.plugins.manager import PluginHost
from sparkwing.storage.contracts import ArtifactStore, LogStore, StateStore
from sparkwing.testing.procs import isolated_env
from sparkwing_cli.pluginkit.generate import core_range, generate, names_for
from sparkwing_cli.pluginkit.stubs import contract_methods

STORES = {"state": StateStore, "logs": LogStore, "artifacts": ArtifactStore}


def sparkwing(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparkwing_cli.main", *args], cwd=cwd, capture_output=True,
        text=True, timeout=60, env=isolated_env(cwd),
    )


def import_generated(root: Path, module: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import ``<module>`` of a generated distribution from its ``src/``."""
    monkeypatch.syspath_prepend(str(root / "src"))
    for name in [m for m in sys.modules if m.split(".")[0] == module.split(".")[0]]:
        del sys.modules[name]
    return importlib.import_module(module)


# -- names -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("redis", ("redis", "sparkwing-redis", "sparkwing_redis", "Redis")),
    ("sparkwing-redis", ("redis", "sparkwing-redis", "sparkwing_redis", "Redis")),
    ("object-store2", ("object-store2", "sparkwing-object-store2", "sparkwing_object_store2",
                       "ObjectStore2")),
])
def test_names_derived_from_the_name(name: str, expected: tuple[str, ...]) -> None:
    n = names_for(name)
    assert (n.plugin, n.dist, n.module, n.camel) == expected


@pytest.mark.parametrize("name", ["", "Redis", "2fast", "red_is", "a--b", "-a", "sparkwing-"])
def test_bad_names_are_one_line_usage_errors(name: str) -> None:
    with pytest.raises(UsageError) as info:
        names_for(name)
    assert str(info.value).startswith(f'bad plugin name "{name}": use kebab-case')


def test_a_name_longer_than_twenty_characters_is_refused() -> None:
    assert names_for("a" * 20).plugin == "a" * 20
    with pytest.raises(UsageError) as info:
        names_for("sparkwing-" + "a" * 21)
    assert str(info.value) == (
        f'plugin name "{"a" * 21}" is longer than 20 characters; choose a shorter one'
    )


def test_the_core_range_stops_before_the_next_minor_version() -> None:
    assert core_range() == ">=0.1,<0.2"


# -- the command -----------------------------------------------------------------------------


def test_the_command_writes_the_distribution_and_says_what_next(tmp_path: Path) -> None:
    proc = sparkwing(tmp_path, "plugin", "new", "--name", "redis", "--kind", "logs")
    assert proc.returncode == 0, proc.stderr
    root = tmp_path / "sparkwing-redis"
    written = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert written == [
        ".gitignore", "README.md", "pyproject.toml", "src/sparkwing_redis/__init__.py",
        "src/sparkwing_redis/plugin.py", "src/sparkwing_redis/store.py",
        "tests/test_conformance.py", "tests/test_plugin.py",
    ]
    assert proc.stdout.splitlines()[-1] == (
        f"next: uv pip install -e {root} && sparkwing plugins && (cd {root} && pytest)"
    )


def test_dir_chooses_where_and_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = sparkwing(tmp_path, "plugin", "new", "--name", "x", "--kind", "state",
                     "--dir", "empty")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "empty" / "src" / "sparkwing_x" / "store.py").is_file()
    proc = sparkwing(tmp_path, "plugin", "new", "--name", "x", "--kind", "state",
                     "--dir", "empty")
    assert proc.returncode == 2
    assert proc.stderr == "error: empty already exists and is not empty; choose another --dir\n"


def test_an_unknown_kind_is_a_usage_error_listing_the_kinds(tmp_path: Path) -> None:
    proc = sparkwing(tmp_path, "plugin", "new", "--name", "x", "--kind", "queue")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    for kind in ("state", "logs", "artifacts", "executor", "trigger"):
        assert kind in proc.stderr
    assert not any(tmp_path.glob("sparkwing-*"))


# -- what is generated -----------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "more"), [
    ("state", ["sparkwing-sqlite>=0.1,<0.2"]), ("logs", []), ("artifacts", []),
    ("executor", ["sparkwing-cli>=0.1,<0.2"]), ("trigger", ["click>=8.1,<9", "aiohttp>=3.9,<4"]),
])
def test_the_pyproject_declares_the_entry_point_and_the_core_range(
    kind: str, more: list[str], tmp_path: Path,
) -> None:
    done = generate("acme", kind, tmp_path / kind)
    meta = tomllib.loads((done.root / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["name"] == "sparkwing-acme"
    assert project["entry-points"]["sparkwing"] == {"acme": "sparkwing_acme.plugin"}
    assert project["dependencies"] == ["sparkwing-core>=0.1,<0.2", *more]
    assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/sparkwing_acme"]


@pytest.mark.parametrize("kind", sorted(STORES))
def test_the_store_implements_every_contract_method_with_its_signature(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = generate(f"gen-{kind}", kind, tmp_path / kind)
    store_mod = import_generated(done.root, f"{done.names.module}.store", monkeypatch)
    cls = next(v for k, v in vars(store_mod).items() if k.startswith("Gen") and isinstance(v, type))
    contract = STORES[kind]
    for name, fn in contract_methods(contract):
        ours = getattr(cls, name)
        assert ours.__annotations__ == fn.__annotations__, name
        assert ours.__doc__.split("\n")[0] == fn.__doc__.split("\n")[0], name
    source = (done.root / "src" / done.names.module / "store.py").read_text()
    assert source.count("# TODO: replace this pass-through") == len(contract_methods(contract))


@pytest.mark.parametrize("kind", sorted(STORES))
def test_the_registration_is_typed_and_declares_the_contract(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = generate(f"reg-{kind}", kind, tmp_path / kind)
    plugin = import_generated(done.root, f"{done.names.module}.plugin", monkeypatch)
    assert plugin.SPARKWING_CONTRACT == CONTRACT_VERSION
    host = PluginHost().load(entry_points=False, extra=(plugin,))
    info = host.infos[plugin.__name__]
    assert info.error == "" and info.contract == CONTRACT_VERSION
    surface = {"state": "state", "logs": "logs", "artifacts": "cache"}[kind]
    backend = host.registry.get(surface, f"reg-{kind}")
    assert backend.optional == ("path",)
    store = host.registry.create(surface, {"type": f"reg-{kind}"},
                                 _context(tmp_path / "home"))
    try:
        assert isinstance(store, STORES[kind])
        assert store.path.parent == tmp_path / "home"
    finally:
        store.close()


def test_the_entry_point_module_imports_nothing_heavy(tmp_path: Path) -> None:
    done = generate("light", "state", tmp_path / "light")
    tree = ast.parse((done.root / "src" / "sparkwing_light" / "plugin.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = sorted({(n.module if isinstance(n, ast.ImportFrom) else n.names[0].name) or ""
                      for n in top})
    assert modules == ["__future__", "collections.abc", "pathlib", "sparkwing",
                       "sparkwing.plugins.registry", "typing"]


@pytest.mark.parametrize("kind", ["state", "logs", "artifacts", "executor", "trigger"])
@pytest.mark.parametrize("name", ["x", "a-name-of-twenty-chr"])
def test_the_generated_code_passes_ruff(kind: str, name: str, tmp_path: Path) -> None:
    done = generate(name, kind, tmp_path / kind)
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--isolated", "--line-length",
         "100", "--select", "E,F,W,I,B,UP,SIM,RUF", "--target-version", "py311", "."],
        cwd=done.root, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _context(home: Path) -> object:
    from sparkwing.plugins.registry import BackendContext

    return BackendContext(home=home)


@pytest.mark.parametrize(("kind", "registry_kind", "hooks"), [
    ("executor", "executor", ["sparkwing_register_executors"]),
    ("trigger", "trigger", ["sparkwing_add_cli_commands", "sparkwing_register_triggers"]),
])
def test_executor_and_trigger_plugins_register_their_kind(
    kind: str, registry_kind: str, hooks: list[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = generate(f"reg-{kind}", kind, tmp_path / kind)
    plugin = import_generated(done.root, f"{done.names.module}.plugin", monkeypatch)
    host = PluginHost().load(entry_points=False, extra=(plugin,))
    host.plugin_infos()
    info = host.infos[plugin.__name__]
    assert (info.error, info.contract, info.hooks) == ("", CONTRACT_VERSION, hooks)
    assert info.registers[registry_kind] == [f"reg-{kind}"]
    assert info.adds_commands == (kind == "trigger")


@pytest.mark.parametrize("kind", sorted(STORES))
def test_the_generated_store_distribution_passes_mypy_strict(kind: str, tmp_path: Path) -> None:
    done = generate(f"typed-{kind}", kind, tmp_path / kind)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir",
         str(tmp_path / ".mypy"), "src", "tests"],
        cwd=done.root, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
