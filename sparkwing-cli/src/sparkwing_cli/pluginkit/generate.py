"""Render a plugin distribution for one kind into a new directory."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sparkwing.errors import UsageError

from .kinds import KIND_NAMES, STORE_KINDS, StoreKind
from .stubs import pass_through_methods

NAME_RE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
PREFIX = "sparkwing-"
#: Longest plugin name (without the prefix): it is also a type name, a command and a module.
MAX_NAME = 20


@dataclass(slots=True)
class Names:
    """Every name derived from ``--name``."""

    #: The plugin (entry point) name and the type name profiles write: ``redis``.
    plugin: str
    #: The distribution: ``sparkwing-redis``.
    dist: str
    #: The import package: ``sparkwing_redis``.
    module: str
    #: CamelCase stem of class names: ``Redis``.
    camel: str


@dataclass(slots=True)
class Written:
    """What ``plugin new`` wrote."""

    root: Path
    names: Names
    kind: str
    files: list[Path] = field(default_factory=list)


def names_for(name: str) -> Names:
    """Derive the names from *name* (``redis`` or ``sparkwing-redis``), or raise UsageError."""
    plugin = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if not NAME_RE.fullmatch(plugin or ""):
        raise UsageError(
            f'bad plugin name "{name}": use kebab-case starting with a letter (lowercase '
            'letters and digits joined by "-", e.g. redis or object-store)'
        )
    if len(plugin) > MAX_NAME:
        raise UsageError(f'plugin name "{plugin}" is longer than {MAX_NAME} characters; '
                         "choose a shorter one")
    camel = "".join(part.capitalize() for part in plugin.split("-"))
    return Names(plugin, PREFIX + plugin, "sparkwing_" + plugin.replace("-", "_"), camel)


def core_range() -> str:
    """The sparkwing-core version range a new plugin depends on (this minor version)."""
    from sparkwing import __version__

    major, minor = (int(p) for p in __version__.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def render(template: str, values: dict[str, str]) -> str:
    """The text of *template* with every ``{{key}}`` replaced; an unknown key is a bug."""
    text = resources.files("sparkwing_cli.pluginkit").joinpath("templates", template).read_text()

    def sub(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", sub, text)


def generate(name: str, kind: str, dest: Path | None = None) -> Written:
    """Write a new plugin distribution of *kind* named after *name* into *dest*.

    *dest* defaults to ``./sparkwing-NAME``; it must not exist or be empty.
    """
    if kind not in KIND_NAMES:
        raise UsageError(f"unknown plugin kind {kind!r}; use one of {', '.join(KIND_NAMES)}")
    names = names_for(name)
    root = (dest if dest is not None else Path.cwd() / names.dist).expanduser()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} already exists and is not empty; choose another --dir")
    files = _files(names, kind)
    out = Written(root, names, kind)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        out.files.append(path)
    return out


def _files(names: Names, kind: str) -> dict[str, str]:
    """Relative path -> content of every file of the distribution."""
    from sparkwing.execution.contracts import CONTRACT_VERSION

    values = {
        "plugin": names.plugin, "dist": names.dist, "module": names.module, "kind": kind,
        "contract_version": str(CONTRACT_VERSION),
    }
    if kind in STORE_KINDS:
        specific = _store(names, STORE_KINDS[kind], values)
    elif kind == "trigger":
        specific = _trigger(names, values)
    else:
        specific = _executor(names, values)
    src = f"src/{names.module}"
    return {
        "pyproject.toml": render("pyproject.toml.tmpl", values),
        "README.md": render("README.md.tmpl", values),
        ".gitignore": render("gitignore.tmpl", values),
        f"{src}/__init__.py": render("package_init.py.tmpl", values),
        **specific,
    }


def _dependencies(*requirements: str) -> str:
    return "".join(f'    "{r}",\n' for r in requirements)


def _store(names: Names, kind: StoreKind, values: dict[str, str]) -> dict[str, str]:
    cls = names.camel + kind.class_suffix
    ref_module, _, ref_class = kind.reference.partition(":")
    suite_module, _, suite_class = kind.suite.partition(":")
    contract_module, _, contract_name = kind.contract.partition(":")
    stubs = pass_through_methods(getattr(importlib.import_module(contract_module), contract_name),
                                 "_reference")
    stubs.imports.setdefault("pathlib", set()).add("Path")
    stubs.imports.setdefault(ref_module, set()).add(ref_class)
    deps = [f"sparkwing-core{core_range()}"]
    if kind.reference_dist:
        deps.append(f"{kind.reference_dist}{core_range()}")
    values.update(
        cls=cls, surface=kind.surface, add_method=kind.add_method, holds=kind.holds,
        contract_name=contract_name, suite_module=suite_module, suite_class=suite_class,
        reference_class=ref_class, default_path=kind.default_path,
        imports=stubs.import_block(), methods="\n".join(stubs.methods).rstrip("\n"),
        description=f"sparkwing {kind.surface} store {names.plugin!r}",
        dependencies=_dependencies(*deps),
        impl_file="store.py",
        conformance_what=f"sparkwing's {contract_name} conformance suite",
        reference_note=(f", from {kind.reference_dist}" if kind.reference_dist else
                        ", part of sparkwing-core"),
        reference_drop=(f" and the {kind.reference_dist} dependency in pyproject.toml"
                        if kind.reference_dist else ""),
    )
    values["kind_section"] = render("readme_store.md.tmpl", values)
    src = f"src/{names.module}"
    return {
        f"{src}/plugin.py": render("store_plugin.py.tmpl", values),
        f"{src}/store.py": render("store_impl.py.tmpl", values),
        "tests/test_plugin.py": render("store_test_plugin.py.tmpl", values),
        "tests/test_conformance.py": render("store_test_conformance.py.tmpl", values),
    }


def _trigger(names: Names, values: dict[str, str]) -> dict[str, str]:
    values.update(
        cls=names.camel + "Source",
        description=f"sparkwing trigger source {names.plugin!r}",
        dependencies=_dependencies(f"sparkwing-core{core_range()}", "click>=8.1,<9",
                                   "aiohttp>=3.9,<4"),
        impl_file="source.py",
        conformance_what="fires a real run, replays it with the same key, posts to the route",
    )
    values["kind_section"] = render("readme_trigger.md.tmpl", values)
    src = f"src/{names.module}"
    return {
        f"{src}/plugin.py": render("trigger_plugin.py.tmpl", values),
        f"{src}/source.py": render("trigger_source.py.tmpl", values),
        "tests/test_plugin.py": render("trigger_test_plugin.py.tmpl", values),
        "tests/test_conformance.py": render("trigger_test_conformance.py.tmpl", values),
    }


def _executor(names: Names, values: dict[str, str]) -> dict[str, str]:
    values.update(
        cls=names.camel + "Executor",
        description=f"sparkwing executor {names.plugin!r}",
        dependencies=_dependencies(f"sparkwing-core{core_range()}",
                                   f"sparkwing-cli{core_range()}"),
        impl_file="executor.py",
        conformance_what="sparkwing's executor conformance suite",
    )
    values["kind_section"] = render("readme_executor.md.tmpl", values)
    src = f"src/{names.module}"
    return {
        f"{src}/plugin.py": render("executor_plugin.py.tmpl", values),
        f"{src}/executor.py": render("executor_impl.py.tmpl", values),
        "tests/test_plugin.py": render("executor_test_plugin.py.tmpl", values),
        "tests/test_conformance.py": render("executor_test_conformance.py.tmpl", values),
    }
