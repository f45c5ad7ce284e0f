"""``plugins.required``: the plugin set a project pins, checked before every command.

A project lists requirement strings in ``.sparkwing/sparkwing.yaml``::

    plugins:
      required:
        - sparkwing-postgres>=0.1,<0.2

Each entry names a plugin distribution. It is satisfied when that
distribution is installed with a version inside the range and every plugin
it publishes loaded (not blocked by ``SPARKWING_DISABLE_PLUGINS``, not
failed). Otherwise the command stops with one line (exit 2) saying what is
wrong and the command that installs the required set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .requiredgate import ensure as ensure  # the gate lives there (cheap to import)
from .requiredgate import ensure_at as ensure_at

if TYPE_CHECKING:
    from ..config.project import RequiredPlugin
    from .manager import PluginHost, PluginInfo

#: Statuses of one requirement, from the check.
OK = "ok"
MISSING = "missing"
WRONG_VERSION = "wrong-version"
BLOCKED = "blocked"
BROKEN = "broken"
NOT_A_PLUGIN = "not-a-plugin"

#: The installer named in messages (``pip install`` takes the same arguments).
INSTALLER = "uv pip install"


@dataclass(slots=True)
class RequirementStatus:
    """How one ``plugins.required`` entry fares against the installed plugins."""

    required: RequiredPlugin
    status: str
    #: Installed version of the distribution ("" when it is not installed).
    installed: str = ""
    #: Names of the plugins (entry points) the distribution publishes.
    plugins: list[str] = field(default_factory=list)
    #: One phrase saying what is wrong ("" when satisfied).
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when the requirement is satisfied."""
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            **self.required.to_dict(),
            "status": self.status,
            "installed": self.installed,
            "plugins": list(self.plugins),
            "problem": self.problem,
        }


def check(required: Sequence[RequiredPlugin], host: PluginHost) -> list[RequirementStatus]:
    """Check each requirement against the plugins *host* loaded (or tried to load).

    A plugin whose registration hook fails counts as broken, so the
    registration hooks are run (as any command that uses the registry would).
    """
    from packaging.utils import canonicalize_name

    by_dist: dict[str, list[PluginInfo]] = {}
    for info in host.plugin_infos():
        if info.distribution:
            by_dist.setdefault(canonicalize_name(info.distribution), []).append(info)
    return [_status(req, by_dist.get(canonicalize_name(req.name), [])) for req in required]


def _status(req: RequiredPlugin, infos: list[PluginInfo]) -> RequirementStatus:
    names = sorted(i.name for i in infos)
    if not infos:
        version = _installed_version(req.name)
        if version:
            return RequirementStatus(
                req, NOT_A_PLUGIN, version, [],
                f"{req.name} {version} is installed but publishes no sparkwing plugin "
                "(no [project.entry-points.sparkwing]); remove it from plugins.required",
            )
        return RequirementStatus(req, MISSING, "", [], f"{req.text} is not installed")
    version = infos[0].version
    if req.requirement.specifier and not req.requirement.specifier.contains(
        version, prereleases=True,
    ):
        return RequirementStatus(
            req, WRONG_VERSION, version, names,
            f"{req.name} {version or '(unknown version)'} is installed, not {req.text}",
        )
    blocked = [i.name for i in infos if i.blocked]
    if blocked:
        return RequirementStatus(
            req, BLOCKED, version, names,
            f"{req.name} {version} is installed but SPARKWING_DISABLE_PLUGINS blocks its "
            f"plugin {', '.join(blocked)}",
        )
    broken = [i for i in infos if i.error]
    if broken:
        return RequirementStatus(
            req, BROKEN, version, names,
            f"{req.name} {version} failed to load: {broken[0].error}",
        )
    return RequirementStatus(req, OK, version, names)


def _installed_version(name: str) -> str:
    """The version of distribution *name* if installed at all (only asked on failure)."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def install_command(statuses: Sequence[RequirementStatus]) -> str:
    """The command installing every requirement that installing can fix ("" if none)."""
    wanted = [s.required.text for s in statuses
              if s.status in (MISSING, WRONG_VERSION, BROKEN)]
    if not wanted:
        return ""
    import shlex

    return f"{INSTALLER} {' '.join(shlex.quote(w) for w in wanted)}"


def problem_line(file: str, statuses: Sequence[RequirementStatus]) -> str:
    """One line naming every unsatisfied requirement and the fix ("" when all are fine)."""
    bad = [s for s in statuses if not s.ok]
    if not bad:
        return ""
    where = f"{file}:{bad[0].required.line}" if len(bad) == 1 else file
    problems = "; ".join(
        s.problem if len(bad) == 1 else f"{s.problem} (line {s.required.line})" for s in bad
    )
    fixes = []
    command = install_command(bad)
    if command:
        fixes.append(f"install with: {command}")
    blocked = [p for s in bad if s.status == BLOCKED for p in s.plugins]
    if blocked:
        fixes.append(f"remove {', '.join(blocked)} from SPARKWING_DISABLE_PLUGINS")
    tail = f"; {' and '.join(fixes)}" if fixes else ""
    return f"{where}: plugins.required: {problems}{tail}"
