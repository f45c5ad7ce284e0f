"""``.sparkwing/sparkwing.yaml``: the project's registry of pipelines.

The loader is strict: an unknown or retired key, a wrong type, a bad name
or a bad trigger is a :class:`~sparkwing.errors.ConfigError` whose one-line
message names the file, the line and the key (and lists the valid keys).

``plugins: {required: [...]}`` pins the plugin distributions the project
needs as requirement strings (``sparkwing-postgres>=0.1,<0.2``); they are
parsed here with :mod:`packaging` (imported only when the block is present)
and checked against the installed plugins by :mod:`sparkwing.plugins.required`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UsageError
from ..slotted import Slotted
from .guards import Guards, parse_guards
from .profiles import Profile, parse_profiles
from .schema import fail, keyed, want_bool, want_mapping, want_str, want_str_list, want_text
from .triggers import parse_triggers
from .yamlload import Node, Scalar, Sequence, display_path, load_yaml

if TYPE_CHECKING:
    from packaging.requirements import Requirement

#: The project directory's name.
PROJECT_DIR = ".sparkwing"
#: The registry file inside it.
PROJECT_FILE = "sparkwing.yaml"

#: Keys of the top level, of ``defaults:`` and of one pipeline entry.
TOP_KEYS = ("defaults", "pipelines", "plugins", "profiles")
#: Keys of the ``plugins:`` block.
PLUGINS_KEYS = ("required",)
DEFAULTS_KEYS = ("args", "guards", "profile", "requires")
PIPELINE_KEYS = (
    "args", "description", "entrypoint", "guards", "hidden", "name", "on", "profile", "requires",
)

#: Files of older releases that are refused by name, with what to do instead.
RETIRED_FILES = {
    "pipelines.yaml": "move its pipelines into .sparkwing/sparkwing.yaml and delete it",
    "backends.yaml": "storage is set by profiles now (profiles.yaml or profiles: in "
                     "sparkwing.yaml); delete it",
    "runners.yaml": "jobs run where sparkwing runs; delete it",
    "sources.yaml": "pipelines are Python modules inside .sparkwing/; delete it",
}
RETIRED_TOP_KEYS = {
    "targets": "pass values with pipeline args: instead; remove it",
    "sparks": "library pins belong in your Python project's dependencies; remove it",
}
RETIRED_PIPELINE_KEYS = {
    "runners": "jobs run where sparkwing runs; remove it",
    "values": "use args: instead",
    "secrets": "declare secrets in the pipeline code; remove it",
    "group": "remove it",
}

#: Reserved ``requires`` label that forces the laptop profile.
LOCAL_LABEL = "local"

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_NAME = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRYPOINT = rf"({_IDENT}(?:\.{_IDENT})*):({_IDENT})"
_FLAG = r"[A-Za-z][A-Za-z0-9_-]*"
_LABEL = r"[A-Za-z0-9][A-Za-z0-9_.:=-]*"


class PipelineEntry(Slotted):
    """One ``pipelines:`` entry of sparkwing.yaml.

    ``profile_line`` is the line of the ``profile:`` value (0 when not set).
    """

    __slots__ = (
        "args",
        "description",
        "entrypoint",
        "guards",
        "hidden",
        "line",
        "name",
        "on",
        "profile",
        "profile_line",
        "requires",
    )

    def __init__(self, name: str, entrypoint: str, description: str = "",
                 on: dict[str, Any] | None = None, hidden: bool = False,
                 args: dict[str, str] | None = None, profile: str = "",
                 guards: Guards | None = None, requires: list[str] | None = None,
                 line: int = 0, profile_line: int = 0) -> None:
        self.name = name
        self.entrypoint = entrypoint
        self.description = description
        self.on: dict[str, Any] = {} if on is None else on
        self.hidden = hidden
        self.args: dict[str, str] = {} if args is None else args
        self.profile = profile
        self.guards = Guards() if guards is None else guards
        self.requires: list[str] = [] if requires is None else requires
        self.line = line
        self.profile_line = profile_line

    @property
    def module(self) -> str:
        """The dotted module part of the entrypoint (``pipelines.release``)."""
        return self.entrypoint.partition(":")[0]

    @property
    def function(self) -> str:
        """The function part of the entrypoint (``plan``)."""
        return self.entrypoint.partition(":")[2]

    def module_file(self, project_dir: Path) -> Path:
        """Return the module's file under *project_dir* (the ``.sparkwing`` directory).

        ``pipelines.release`` is ``pipelines/release.py``, or
        ``pipelines/release/__init__.py`` when that package exists.
        """
        base = project_dir.joinpath(*self.module.split("."))
        package = base / "__init__.py"
        return package if package.is_file() else base.with_suffix(".py")

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "entrypoint": self.entrypoint,
            "description": self.description,
            "on": self.on,
            "hidden": self.hidden,
            "args": dict(self.args),
            "profile": self.profile,
            "guards": self.guards.to_dict(),
            "requires": list(self.requires),
        }


class Defaults(Slotted):
    """The ``defaults:`` block: values every pipeline inherits unless it sets its own.

    ``profile_line`` is the line of the ``profile:`` value (0 when not set).
    """

    __slots__ = ("args", "guards", "profile", "profile_line", "requires")

    def __init__(self, profile: str = "", args: dict[str, str] | None = None,
                 guards: Guards | None = None, requires: list[str] | None = None,
                 profile_line: int = 0) -> None:
        self.profile = profile
        self.args: dict[str, str] = {} if args is None else args
        self.guards = Guards() if guards is None else guards
        self.requires: list[str] = [] if requires is None else requires
        self.profile_line = profile_line


class RequiredPlugin(Slotted):
    """One ``plugins.required`` entry: a plugin distribution and the versions accepted.

    ``text`` is the entry as written (what the install command repeats),
    ``requirement`` the parsed requirement (name, extras, version
    specifiers) and ``line`` the entry's line in the file.
    """

    __slots__ = ("line", "requirement", "text")

    def __init__(self, text: str, requirement: Requirement, line: int = 0) -> None:
        self.text = text
        self.requirement = requirement
        self.line = line

    @property
    def name(self) -> str:
        """The distribution name as written (``sparkwing-postgres``)."""
        return self.requirement.name

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {"requirement": self.text, "name": self.name,
                "specifier": str(self.requirement.specifier), "line": self.line}


class ProjectConfig(Slotted):
    """A loaded ``.sparkwing/sparkwing.yaml``.

    ``required_plugins`` is ``plugins.required``: the plugin distributions
    this project needs, in file order.
    """

    __slots__ = ("defaults", "dir", "file", "pipelines", "profiles", "required_plugins", "root")

    def __init__(self, root: Path, dir: Path, file: Path,
                 pipelines: list[PipelineEntry] | None = None, defaults: Defaults | None = None,
                 profiles: dict[str, Profile] | None = None,
                 required_plugins: list[RequiredPlugin] | None = None) -> None:
        self.root = root
        self.dir = dir
        self.file = file
        self.pipelines: list[PipelineEntry] = [] if pipelines is None else pipelines
        self.defaults = Defaults() if defaults is None else defaults
        self.profiles: dict[str, Profile] = {} if profiles is None else profiles
        self.required_plugins: list[RequiredPlugin] = (
            [] if required_plugins is None else required_plugins)

    @property
    def shown(self) -> str:
        """The file's path as error messages show it."""
        return display_path(self.file, self.root)

    def pipeline(self, name: str) -> PipelineEntry:
        """Return the pipeline called *name*, or raise a one-line :class:`UsageError`.

        The message suggests the nearest name when one is close
        (``unknown pipeline "relase"; did you mean "release"?``), else
        lists the available ones.
        """
        for entry in self.pipelines:
            if entry.name == name:
                return entry
        from .suggest import closest

        message = f'unknown pipeline "{name}"'
        guess = closest(name, [p.name for p in self.pipelines])
        if guess:
            raise UsageError(f'{message}; did you mean "{guess}"?')
        visible = [p.name for p in self.visible_pipelines()]
        if visible:
            raise UsageError(f"{message}; available: {', '.join(sorted(visible))}")
        if self.pipelines:
            raise UsageError(f"{message}; this project has only hidden pipelines "
                             "(see sparkwing pipeline list --all)")
        raise UsageError(f"{message}; {self.shown} defines no pipelines "
                         "(add one with: sparkwing pipeline new --name NAME)")

    def visible_pipelines(self) -> list[PipelineEntry]:
        """Pipelines not marked ``hidden``, in file order."""
        return [p for p in self.pipelines if not p.hidden]

    def args_for(self, entry: PipelineEntry) -> dict[str, str]:
        """Merged args: ``defaults.args`` overridden key by key by the pipeline's ``args``."""
        return {**self.defaults.args, **entry.args}

    def guards_for(self, entry: PipelineEntry) -> Guards:
        """The pipeline's guards when it sets any, else ``defaults.guards`` (never merged)."""
        return entry.guards if entry.guards else self.defaults.guards

    def requires_for(self, entry: PipelineEntry) -> list[str]:
        """The pipeline's ``requires`` when non-empty, else ``defaults.requires``."""
        return list(entry.requires) if entry.requires else list(self.defaults.requires)


# -- finding and loading ---------------------------------------------------------------


def find_project(start: Path) -> Path | None:
    """Walk up from *start* to the nearest directory holding ``.sparkwing/``; return it or None.

    A ``.sparkwing`` that is sparkwing's own home (``$SPARKWING_HOME`` or
    ``~/.sparkwing``, where runs are recorded) is not a project unless it
    holds a ``sparkwing.yaml``.
    """
    here = Path(start).resolve()
    homes: set[Path] | None = None
    for directory in (here, *here.parents):
        candidate = directory / PROJECT_DIR
        if not candidate.is_dir():
            continue
        if (candidate / PROJECT_FILE).is_file():
            return directory
        if homes is None:
            homes = _state_homes()
        if candidate.resolve() in homes or (candidate / "state.db").exists():
            continue
        return directory
    return None


def _state_homes() -> set[Path]:
    from ..paths import sparkwing_home

    out = {(Path.home() / PROJECT_DIR).resolve()}
    try:
        out.add(sparkwing_home().resolve())
    except OSError:
        pass
    return out


def load_project(start: Path, *, check_schedules: bool = True) -> ProjectConfig:
    """Find and load the ``.sparkwing/sparkwing.yaml`` at or above *start*.

    Raises :class:`ConfigError` when there is none (the message says how
    to create one), when a retired file sits in ``.sparkwing/``, or when the
    file is invalid. ``check_schedules=False`` checks only the shape of
    ``on.schedule`` cron expressions, sparing the cron library's import
    (``sparkwing run`` never evaluates schedules).
    """
    root = find_project(start)
    if root is None:
        where = Path(start).resolve()
        shown = display_path(where)
        raise ConfigError(
            f"no .sparkwing/{PROJECT_FILE} found in {where if shown == '.' else shown} or any "
            "parent directory; create one with: sparkwing pipeline new --name NAME"
        )
    return load_project_file(root / PROJECT_DIR / PROJECT_FILE, check_schedules=check_schedules)


def load_project_file(file: Path, *, check_schedules: bool = True) -> ProjectConfig:
    """Load and validate one ``sparkwing.yaml`` (its directory is the ``.sparkwing`` dir)."""
    directory = file.parent
    for retired, hint in RETIRED_FILES.items():
        if (directory / retired).exists():
            shown = display_path(directory / retired, directory.parent)
            raise ConfigError(f"{shown}: this file is retired; {hint}")
    if not file.is_file():
        raise ConfigError(
            f"{display_path(directory)} has no {PROJECT_FILE}; create one with: "
            "sparkwing pipeline new --name NAME"
        )
    shown = display_path(file, directory.parent)
    config = ProjectConfig(root=directory.parent, dir=directory, file=file)
    root = load_yaml(file, shown)
    if root is None:
        return config
    top = want_mapping(shown, root, f"the top level of {PROJECT_FILE}")
    keys = keyed(shown, top, "at the top level", TOP_KEYS, RETIRED_TOP_KEYS)
    if "profiles" in keys:
        config.profiles = parse_profiles(shown, keys["profiles"][1], project=True)
    if "defaults" in keys:
        config.defaults = _parse_defaults(shown, keys["defaults"][1])
    if "pipelines" in keys:
        config.pipelines = _parse_pipelines(shown, keys["pipelines"][1], check_schedules)
    if "plugins" in keys:
        config.required_plugins = _parse_plugins(shown, keys["plugins"][1])
    return config


def _parse_plugins(file: str, node: Node) -> list[RequiredPlugin]:
    """``plugins: {required: [REQUIREMENT, ...]}``: names and version specifiers, no URLs."""
    block = want_mapping(file, node, "plugins", allow_null=True)
    keys = keyed(file, block, "in plugins", PLUGINS_KEYS)
    if "required" not in keys:
        return []
    value = keys["required"][1]
    texts = want_str_list(file, value, "plugins.required")
    if not texts:
        return []
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    items = value.items if isinstance(value, Sequence) else []
    out: list[RequiredPlugin] = []
    seen: dict[str, int] = {}
    for item, text in zip(items, texts, strict=True):
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            fail(file, item.line, f'bad requirement "{text}" in plugins.required: '
                                  f"{_requirement_problem(str(exc))}; write a distribution name "
                                  "and optional version specifiers, e.g. "
                                  "sparkwing-postgres>=0.1,<0.2")
        if req.url or req.marker is not None:
            what = "a URL" if req.url else "an environment marker"
            fail(file, item.line, f'requirement "{text}" in plugins.required has {what}; '
                                  "write a distribution name and optional version specifiers, "
                                  "e.g. sparkwing-postgres>=0.1,<0.2")
        key = canonicalize_name(req.name)
        if key in seen:
            fail(file, item.line, f'plugin "{req.name}" is required twice in plugins.required '
                                  f"(first on line {seen[key]}); merge the version ranges")
        seen[key] = item.line
        out.append(RequiredPlugin(text=text, requirement=req, line=item.line))
    return out


def _requirement_problem(message: str) -> str:
    """packaging's multi-line parse error as one phrase with the column it points at."""
    lines = message.splitlines()
    problem = lines[0].strip() if lines else "not a requirement"
    problem = problem[:1].lower() + problem[1:]
    if len(lines) >= 3 and "^" in lines[2]:
        column = lines[2].index("^") - (len(lines[1]) - len(lines[1].lstrip())) + 1
        problem += f" (at character {column})"
    return problem


def _parse_defaults(file: str, node: Node) -> Defaults:
    where = "in defaults"
    block = want_mapping(file, node, "defaults", allow_null=True)
    keys = keyed(file, block, where, DEFAULTS_KEYS)
    out = Defaults()
    if "profile" in keys:
        value = keys["profile"][1]
        out.profile = want_str(file, value, f"profile {where}")
        out.profile_line = value.line
    if "args" in keys:
        out.args = _parse_args(file, keys["args"][1], where)
    if "guards" in keys:
        out.guards = parse_guards(file, keys["guards"][1], where)
    if "requires" in keys:
        out.requires = _parse_requires(file, keys["requires"][1], where)
    return out


def _parse_pipelines(file: str, node: Node, check_schedules: bool) -> list[PipelineEntry]:
    if isinstance(node, Scalar) and node.kind == "null":
        return []
    if not isinstance(node, Sequence):
        fail(file, node.line,
             f"pipelines must be a list of pipeline entries, got {node.describe()}")
    out: list[PipelineEntry] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(node.items, 1):
        entry = _parse_pipeline(file, item, index, check_schedules)
        if entry.name in seen:
            fail(file, entry.line,
                 f'duplicate pipeline name "{entry.name}" (first on line {seen[entry.name]})')
        seen[entry.name] = entry.line
        out.append(entry)
    return out


def _parse_pipeline(file: str, node: Node, index: int, check_schedules: bool) -> PipelineEntry:
    block = want_mapping(file, node, f"pipeline #{index}")
    # Name first, so every later message can say which pipeline it is about.
    name_node = next(
        (v for k, v in block.items if isinstance(k, Scalar) and k.text == "name"), None
    )
    if name_node is None:
        fail(file, node.line, f"pipeline #{index} has no name; every pipeline needs name: and "
                              "entrypoint:")
    name = want_str(file, name_node, f"name of pipeline #{index}")
    if not re.fullmatch(_NAME, name):
        fail(file, name_node.line,
             f'bad pipeline name "{name}": use kebab-case (lowercase letters and digits joined '
             'by "-", e.g. build-test)')
    where = f'in pipeline "{name}"'
    keys = keyed(file, block, where, PIPELINE_KEYS, RETIRED_PIPELINE_KEYS)
    if "entrypoint" not in keys:
        fail(file, node.line,
             f'pipeline "{name}" has no entrypoint; add entrypoint: MODULE:FUNCTION '
             "(e.g. pipelines.release:plan)")
    ep_node = keys["entrypoint"][1]
    entrypoint = want_str(file, ep_node, f"entrypoint {where}").strip()
    if not re.fullmatch(_ENTRYPOINT, entrypoint):
        fail(file, ep_node.line,
             f'bad entrypoint "{entrypoint}" {where}: use MODULE:FUNCTION, a dotted module path '
             "inside .sparkwing/ and a function name (e.g. pipelines.release:plan)")
    entry = PipelineEntry(name=name, entrypoint=entrypoint, line=node.line)
    if "description" in keys:
        entry.description = want_str(file, keys["description"][1], f"description {where}",
                                      allow_empty=True)
    if "on" in keys:
        entry.on = parse_triggers(file, keys["on"][1], where, check_cron=check_schedules)
    if "hidden" in keys:
        entry.hidden = want_bool(file, keys["hidden"][1], f"hidden {where}")
    if "args" in keys:
        entry.args = _parse_args(file, keys["args"][1], where)
    if "profile" in keys:
        value = keys["profile"][1]
        entry.profile = want_str(file, value, f"profile {where}")
        entry.profile_line = value.line
    if "guards" in keys:
        entry.guards = parse_guards(file, keys["guards"][1], where)
    if "requires" in keys:
        entry.requires = _parse_requires(file, keys["requires"][1], where)
    return entry


def _parse_args(file: str, node: Node, where: str) -> dict[str, str]:
    block = want_mapping(file, node, f"args {where}", allow_null=True)
    out: dict[str, str] = {}
    seen: dict[str, int] = {}
    for key, value in block.items:
        if not isinstance(key, Scalar):
            fail(file, key.line, f"arg names {where} must be plain text, got {key.describe()}")
        flag = key.text
        if not re.fullmatch(_FLAG, flag):
            fail(file, key.line, f'bad arg name "{flag}" in args {where}: use letters, digits, '
                                 '"_" and "-", starting with a letter')
        if flag in seen:
            fail(file, key.line, f'duplicate arg "{flag}" {where} (first on line {seen[flag]})')
        seen[flag] = key.line
        out[flag] = want_text(file, value, f"args.{flag} {where}")
    return out


def _parse_requires(file: str, node: Node, where: str) -> list[str]:
    labels = want_str_list(file, node, f"requires {where}")
    items = node.items if isinstance(node, Sequence) else []
    for item, label in zip(items, labels, strict=False):
        if not re.fullmatch(_LABEL, label):
            fail(file, item.line, f'bad label "{label}" in requires {where}: use letters, digits '
                                  'and "_.:=-"')
    return labels

