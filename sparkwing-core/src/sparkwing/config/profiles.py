"""Profiles: where a run's state, cache and logs live.

User profiles are read from ``profiles.yaml`` (see
:func:`sparkwing.paths.profiles_path`); a project may declare more under
``profiles:`` in ``.sparkwing/sparkwing.yaml``. Both use the same shape::

    profiles:
      team:
        description: shared bucket for the team
        state: {type: postgres, url_source: env:TEAM_PG_URL}
        cache: {type: s3, bucket: team-cache}
        logs:  {type: s3, bucket: team-logs, prefix: logs/}
        executor: {type: process}
        controller: {url: https://ci.example.com, token_env: SPARKWING_TOKEN}

Each surface block names a backend ``type`` plus that backend's keys; the
backend registry checks the keys when the profile is resolved. A surface
left out falls back to the built-in ``laptop`` profile's block. The
optional ``executor:`` block names where job attempts run (an executor
type registered by a plugin, checked the same way); without it they run
on ``local``. A profile whose only storage block is ``controller:`` keeps
its state, logs and cache (artifacts) in that controller
(``{type: controller, url, token...}``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..slotted import Slotted
from .schema import fail, keyed, want_mapping, want_str
from .yamlload import Mapping, Node, Scalar, display_path, load_yaml, to_python

#: The storage surfaces a profile sets.
SURFACES = ("state", "cache", "logs")
#: Keys of one profile.
PROFILE_KEYS = ("cache", "controller", "description", "executor", "logs", "state")
#: Keys of a profile's ``controller:`` block.
CONTROLLER_KEYS = ("token", "token_env", "url")
#: Name of the built-in profile.
LAPTOP = "laptop"
#: Name of the profile of a record directory (``--sw-record-dir``, ``--from``).
RECORD_DIR = "record-dir"

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_ENV_VAR = r"[A-Za-z_][A-Za-z0-9_]*"
_SECRET_KEY = r"(^|_)(token|password|passwd|secret|credentials?)($|_)|secret_access_key$"
_URL_PASSWORD = r"^([a-z][a-z0-9+.-]*://[^/:@]*:)([^/@]*)(@)"


class Profile(Slotted):
    """One named profile: a backend block per surface, an optional controller."""

    __slots__ = (
        "cache",
        "controller",
        "defaulted",
        "description",
        "executor",
        "line",
        "logs",
        "name",
        "source",
        "state",
        "surface_lines",
    )

    def __init__(
        self,
        name: str,
        state: dict[str, Any],
        cache: dict[str, Any],
        logs: dict[str, Any],
        controller: dict[str, Any] | None = None,
        executor: dict[str, Any] | None = None,
        source: str = 'built-in',
        description: str = "",
        line: int = 0,
        surface_lines: dict[str, int] | None = None,
        defaulted: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.state = state
        self.cache = cache
        self.logs = logs
        self.controller = controller
        #: The ``executor:`` block (``type`` plus the executor's keys), or ``None``: ``local``.
        self.executor = executor
        self.source = source
        self.description = description
        #: Line of the profile's name in its file (0 for the built-in one).
        self.line = line
        #: Line of each surface block that was written in the file.
        self.surface_lines: dict[str, int] = {} if surface_lines is None else surface_lines
        #: Surfaces not written in the profile, taken from the laptop defaults.
        self.defaulted = defaulted

    def surface(self, kind: str) -> dict[str, Any]:
        """Return the block for surface *kind* (``state``, ``cache`` or ``logs``)."""
        if kind not in SURFACES:
            raise ValueError(f"unknown surface {kind!r}")
        block: dict[str, Any] = getattr(self, kind)
        return block

    def where(self, kind: str | None = None) -> str:
        """Return the error prefix for this profile (and surface), with file and line when known."""
        line = self.surface_lines.get(kind, self.line) if kind else self.line
        prefix = f"{self.source}:{line}: " if line else ""
        text = f'{prefix}profile "{self.name}"'
        if kind:
            text += f": {kind}"
            if kind in self.defaulted:
                text += " (laptop default)"
        return text

    def controller_token(self) -> str | None:
        """Return the controller token (read from ``token_env`` when set), or None."""
        if not self.controller:
            return None
        if self.controller.get("token"):
            return str(self.controller["token"])
        var = self.controller.get("token_env")
        if not var:
            return None
        return os.environ.get(str(var)) or None

    def to_public_dict(self) -> dict[str, Any]:
        """Return the profile with secrets masked (tokens, passwords in URLs)."""
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "state": redact(self.state),
            "cache": redact(self.cache),
            "logs": redact(self.logs),
            "controller": redact(self.controller) if self.controller is not None else None,
            "executor": redact(self.executor) if self.executor is not None else None,
            "defaulted": list(self.defaulted),
        }


def redact(value: Any) -> Any:
    """Return *value* with secret-looking keys replaced by ``***`` and URL passwords masked.

    ``token_env`` and ``url_source`` name where a secret comes from, so
    they are kept.
    """
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in ("token_env", "url_source"):
                out[key] = item
            elif re.search(_SECRET_KEY, str(key).lower()) and item not in (None, ""):
                out[key] = "***"
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return re.sub(_URL_PASSWORD, r"\1***\3", value, flags=re.IGNORECASE)
    return value


def laptop_profile() -> Profile:
    """Return the built-in ``laptop`` profile: everything under ``$SPARKWING_HOME``."""
    from ..paths import sparkwing_home

    home = sparkwing_home()
    return Profile(
        name=LAPTOP,
        state={"type": "sqlite", "path": str(home / "state.db")},
        cache={"type": "filesystem", "path": str(home / "artifacts")},
        logs={"type": "filesystem", "path": str(home / "runs")},
        source="built-in",
        description="local SQLite state, logs and cache under $SPARKWING_HOME",
    )


def record_dir_profile(path: Path, *, read_only: bool = False, source: str = "") -> Profile:
    """The profile of a record directory: state, logs and cache are ``dir`` stores in *path*.

    The same as a profile written ``{type: dir, path: PATH, prefix: state}``
    (``logs``, ``cache`` likewise), so such a profile reads the directory
    too. *read_only* opens the stores without changing anything in *path*.
    *source* names the flag that asked for it.
    """
    def block(prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "dir", "path": str(path), "prefix": prefix}
        if read_only:
            out["read_only"] = True
        return out

    return Profile(
        name=RECORD_DIR, state=block("state"), cache=block("cache"), logs=block("logs"),
        source=source or "built-in",
        description=f"runs recorded in the directory {path}",
    )


def parse_profiles(file: str, node: Node, *, project: bool) -> dict[str, Profile]:
    """Validate a ``profiles:`` mapping; *project* marks the one in sparkwing.yaml.

    Project profiles may not carry a literal controller ``token`` (it would
    be committed); they use ``token_env``.
    """
    block = want_mapping(file, node, "profiles", allow_null=True)
    out: dict[str, Profile] = {}
    laptop: Profile | None = None
    for key, value in block.items:
        if not isinstance(key, Scalar):
            fail(file, key.line, f"profile names must be plain text, got {key.describe()}")
        name = key.text
        if not re.fullmatch(_NAME, name):
            fail(file, key.line,
                 f'bad profile name "{name}": use letters, digits, ".", "_" and "-"')
        if name in out:
            fail(file, key.line, f'duplicate profile "{name}" (first on line {out[name].line})')
        if project and name == LAPTOP:
            fail(file, key.line, 'a project cannot redefine the "laptop" profile (only your own '
                                 "profiles.yaml can); give it another name")
        if laptop is None:
            laptop = laptop_profile()
        out[name] = _parse_profile(file, name, key.line, value, laptop, project=project)
    return out


def _parse_profile(file: str, name: str, line: int, node: Node, laptop: Profile, *,
                   project: bool) -> Profile:
    where = f'in profile "{name}"'
    block = want_mapping(file, node, f'profile "{name}"', allow_null=True)
    keys = keyed(file, block, where, PROFILE_KEYS)
    profile = Profile(
        name=name, state=laptop.state, cache=laptop.cache, logs=laptop.logs,
        source=file, line=line,
    )
    defaulted: list[str] = []
    for kind in SURFACES:
        if kind in keys:
            value = keys[kind][1]
            setattr(profile, kind, _parse_surface(file, name, kind, value))
            profile.surface_lines[kind] = value.line
        else:
            setattr(profile, kind, dict(getattr(laptop, kind)))
            defaulted.append(kind)
    profile.defaulted = tuple(defaulted)
    if "description" in keys:
        profile.description = want_str(file, keys["description"][1], f"description {where}",
                                       allow_empty=True)
    if "controller" in keys:
        profile.controller = _parse_controller(file, name, keys["controller"][1], project=project)
        if not any(kind in keys for kind in SURFACES):
            _controller_surfaces(profile, keys["controller"][1].line)
    if "executor" in keys:
        value = keys["executor"][1]
        profile.executor = _parse_surface(file, name, "executor", value,
                                          example="an executor such as local, process")
        profile.surface_lines["executor"] = value.line
    return profile


#: Surfaces a ``controller:`` block provides when a profile writes no surface itself.
CONTROLLER_SURFACES = ("state", "cache", "logs")


def _controller_surfaces(profile: Profile, line: int) -> None:
    """Point state, cache and logs at the profile's controller."""
    assert profile.controller is not None
    block = {"type": "controller", **profile.controller}
    for kind in CONTROLLER_SURFACES:
        setattr(profile, kind, dict(block))
        profile.surface_lines[kind] = line
    profile.defaulted = tuple(k for k in profile.defaulted if k not in CONTROLLER_SURFACES)


def _parse_surface(file: str, profile: str, kind: str, node: Node,
                   example: str = "a backend name such as sqlite, filesystem, s3",
                   ) -> dict[str, Any]:
    prefix = f'profile "{profile}": {kind}'
    if not isinstance(node, Mapping):
        fail(file, node.line, f"{prefix}: must be a mapping with a type, got {node.describe()}")
    seen: dict[str, int] = {}
    for key, _value in node.items:
        if not isinstance(key, Scalar):
            fail(file, key.line, f"{prefix}: keys must be plain text, got {key.describe()}")
        if key.text in seen:
            fail(file, key.line,
                 f'{prefix}: duplicate key "{key.text}" (first on line {seen[key.text]})')
        seen[key.text] = key.line
    block: dict[str, Any] = to_python(node)
    type_name = block.get("type")
    if not isinstance(type_name, str) or not type_name:
        fail(file, node.line, f"{prefix}: type is required ({example})")
    if "url_source" in block:
        source = block["url_source"]
        line = seen["url_source"]
        if "url" in block:
            fail(file, line, f"{prefix}: url and url_source are mutually exclusive; keep one")
        if not (isinstance(source, str) and source.startswith("env:")
                and re.fullmatch(_ENV_VAR, source[4:])):
            fail(file, line, f'{prefix}: url_source must look like env:VARIABLE, got "{source}"')
    return block


def _parse_controller(file: str, profile: str, node: Node, *, project: bool) -> dict[str, Any]:
    where = f'in profile "{profile}" controller'
    block = want_mapping(file, node, f'controller of profile "{profile}"')
    keys = keyed(file, block, where, CONTROLLER_KEYS)
    if "url" not in keys:
        fail(file, node.line, f'profile "{profile}": controller requires url')
    url = want_str(file, keys["url"][1], f"url {where}")
    if not url.startswith(("http://", "https://")):
        fail(file, keys["url"][1].line,
             f'profile "{profile}": controller url must start with http:// or https://')
    out: dict[str, Any] = {"url": url}
    if "token" in keys and "token_env" in keys:
        fail(file, keys["token_env"][0].line,
             f'profile "{profile}": controller token and token_env are mutually exclusive')
    if "token" in keys:
        if project:
            fail(file, keys["token"][0].line,
                 f'profile "{profile}": a controller token must not be committed in '
                 "sparkwing.yaml; use token_env: VARIABLE")
        out["token"] = want_str(file, keys["token"][1], f"token {where}")
    if "token_env" in keys:
        var = want_str(file, keys["token_env"][1], f"token_env {where}")
        if not re.fullmatch(_ENV_VAR, var):
            fail(file, keys["token_env"][1].line,
                 f'profile "{profile}": token_env must be an environment variable name, '
                 f'got "{var}"')
        out["token_env"] = var
    return out


def load_user_profiles(path: Path | None = None) -> dict[str, Profile]:
    """Read the user's ``profiles.yaml`` (default :func:`sparkwing.paths.profiles_path`).

    A missing file means no user profiles. The file holds one top-level
    key, ``profiles:``.
    """
    if path is None:
        from ..paths import profiles_path

        path = profiles_path()
    if not path.is_file():
        if path.exists():
            raise ConfigError(f"{display_path(path)}: not a regular file")
        return {}
    shown = display_path(path)
    root = load_yaml(path, shown)
    if root is None:
        return {}
    top = want_mapping(shown, root, "the top level of profiles.yaml")
    keys = keyed(
        shown, top, "at the top level", ("profiles",),
        retired={"default": "the default profile is chosen by defaults.profile in "
                            ".sparkwing/sparkwing.yaml or --profile; remove it"},
    )
    if "profiles" not in keys:
        return {}
    return parse_profiles(shown, keys["profiles"][1], project=False)
