"""Dispatch guards: ``guards: {require: [...], reject: [...]}`` in sparkwing.yaml.

A guard token is one of:

* ``profile:local``: the resolved profile is ``laptop`` (the built-in local
  profile, or a user profile that overrides it);
* ``profile:controller``: the resolved profile has a ``controller:``;
* ``profile:name=NAME``: the resolved profile is called NAME;
* ``arg:FLAG=VALUE``: the pipeline argument FLAG (after yaml ``args:``
  defaults are merged in) equals VALUE;
* ``git:branch=NAME``: the current branch is NAME;
* ``git:branch=default``: the current branch is the repository's default branch.

A run is refused when any ``reject`` token matches, or when any
``require`` token does not. Token syntax is checked when the file is
loaded; a pipeline's own non-empty guards replace ``defaults.guards``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC

from ..slotted import Slotted
from .schema import fail, keyed, want_mapping, want_str_list
from .yamlload import Node

#: The token forms, as listed in error messages.
GUARD_FORMS = (
    "profile:local",
    "profile:controller",
    "profile:name=NAME",
    "arg:FLAG=VALUE",
    "git:branch=NAME",
    "git:branch=default",
)

# Pattern sources, not compiled: ``re`` compiles and caches one on first use (start-up).
_PROFILE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_FLAG = r"[A-Za-z][A-Za-z0-9_-]*"
_BRANCH = r"[^\s]+"


class Guards(Slotted):
    """The ``require`` and ``reject`` token lists of a pipeline or of ``defaults``."""

    __slots__ = ("line", "reject", "require")

    def __init__(self, require: list[str] | None = None, reject: list[str] | None = None,
                 line: int = 0) -> None:
        self.require: list[str] = [] if require is None else require
        self.reject: list[str] = [] if reject is None else reject
        self.line = line

    def __bool__(self) -> bool:
        """True when at least one token is set."""
        return bool(self.require or self.reject)

    def to_dict(self) -> dict[str, list[str]]:
        """Return ``{"require": [...], "reject": [...]}``."""
        return {"require": list(self.require), "reject": list(self.reject)}


def token_problem(token: str) -> str | None:
    """Return why *token* is not a valid guard token, or None when it is."""
    kind, sep, rest = token.partition(":")
    if sep:
        if kind == "profile":
            if rest in ("local", "controller"):
                return None
            if rest.startswith("name=") and re.fullmatch(_PROFILE_NAME, rest[5:]):
                return None
        elif kind == "arg":
            flag, eq, _value = rest.partition("=")
            if eq and re.fullmatch(_FLAG, flag):
                return None
        elif kind == "git" and rest.startswith("branch=") and re.fullmatch(_BRANCH, rest[7:]):
            return None
    return f"valid forms: {', '.join(GUARD_FORMS)}"


def parse_guards(file: str, node: Node, where: str) -> Guards:
    """Validate a ``guards:`` block; *where* reads like ``in pipeline "release"``."""
    block = want_mapping(file, node, f"guards {where}", allow_null=True)
    keys = keyed(file, block, f"in guards {where}", ("require", "reject"))
    guards = Guards(line=node.line)
    for name in ("require", "reject"):
        if name not in keys:
            continue
        value = keys[name][1]
        tokens = want_str_list(file, value, f"guards.{name} {where}")
        items = getattr(value, "items", [])
        for i, token in enumerate(tokens):
            problem = token_problem(token)
            if problem:
                line = items[i].line if i < len(items) else value.line
                fail(file, line, f'bad guard token "{token}" in guards.{name} {where}; {problem}')
        setattr(guards, name, tokens)
    return guards


class _Facts(Slotted):
    __slots__ = ("args", "branch", "default_branch", "has_controller", "profile_name")

    def __init__(self, profile_name: str, has_controller: bool, args: MappingABC[str, str],
                 branch: str | None, default_branch: str | None) -> None:
        self.profile_name = profile_name
        self.has_controller = has_controller
        self.args = args
        self.branch = branch
        self.default_branch = default_branch


def guard_matches(
    token: str,
    *,
    profile_name: str,
    has_controller: bool,
    args: MappingABC[str, str],
    branch: str | None,
    default_branch: str | None,
) -> bool:
    """Return whether one (valid) guard token holds for this dispatch."""
    return _matches(token, _Facts(profile_name, has_controller, args, branch, default_branch))


def evaluate_guards(
    guards: Guards,
    *,
    profile_name: str,
    has_controller: bool,
    args: MappingABC[str, str],
    branch: str | None,
    default_branch: str | None,
) -> str | None:
    """Return a one-line reason to refuse the dispatch, or None when the guards allow it.

    Reject tokens are checked first: the first that matches gives
    ``dispatch rejected by guard "X" (...)``; then the first require token
    that does not match gives ``dispatch requires "X" (...)``. The part in
    brackets says what was actually seen.
    """
    facts = _Facts(profile_name, has_controller, args, branch, default_branch)
    for token in guards.reject:
        if _matches(token, facts):
            return f'dispatch rejected by guard "{token}" ({_seen(token, facts)})'
    for token in guards.require:
        if not _matches(token, facts):
            return f'dispatch requires "{token}" ({_seen(token, facts)})'
    return None


def _matches(token: str, f: _Facts) -> bool:
    kind, _, rest = token.partition(":")
    if kind == "profile":
        if rest == "local":
            return f.profile_name == "laptop"
        if rest == "controller":
            return f.has_controller
        return f.profile_name == rest.partition("=")[2]
    if kind == "arg":
        flag, _, value = rest.partition("=")
        return flag in f.args and str(f.args[flag]) == value
    if kind == "git":
        wanted = rest.partition("=")[2]
        if f.branch is None:
            return False
        if wanted == "default":
            return f.default_branch is not None and f.branch == f.default_branch
        return f.branch == wanted
    return False


def _seen(token: str, f: _Facts) -> str:
    kind, _, rest = token.partition(":")
    if kind == "profile":
        controller = "with" if f.has_controller else "without"
        return f'profile is "{f.profile_name}", {controller} a controller'
    if kind == "arg":
        flag = rest.partition("=")[0]
        return f'{flag} is "{f.args[flag]}"' if flag in f.args else f"{flag} is not set"
    if f.branch is None:
        return "not on a git branch"
    if rest == "branch=default":
        shown = f'"{f.default_branch}"' if f.default_branch else "unknown"
        return f'branch is "{f.branch}", default branch is {shown}'
    return f'branch is "{f.branch}"'
