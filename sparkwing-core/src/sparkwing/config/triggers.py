"""The ``on:`` block of a pipeline: which events start it.

Triggers are recorded and shown; the local runner never evaluates them
(``schedule`` is validated but not run by ``sparkwing run``). The git hook
triggers are used by ``sparkwing pipeline hooks install``.
"""

from __future__ import annotations

import re
from typing import Any

from .schema import fail, keyed, want_mapping, want_str, want_str_list
from .yamlload import Node, Scalar

#: Trigger names accepted under ``on:``.
TRIGGERS = (
    "post_commit",
    "pre_commit",
    "pre_push",
    "pull_request",
    "push",
    "schedule",
    "webhook",
)

#: ``pull_request.actions`` values (GitHub's pull request activity types).
PR_ACTIONS = (
    "assigned",
    "auto_merge_disabled",
    "auto_merge_enabled",
    "closed",
    "converted_to_draft",
    "demilestoned",
    "dequeued",
    "edited",
    "enqueued",
    "labeled",
    "locked",
    "milestoned",
    "opened",
    "ready_for_review",
    "reopened",
    "review_request_removed",
    "review_requested",
    "synchronize",
    "unassigned",
    "unlabeled",
    "unlocked",
)

#: Cron shorthands accepted for ``schedule``.
CRON_MACROS = ("@annually", "@daily", "@hourly", "@midnight", "@monthly", "@weekly", "@yearly")

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: (field name, low, high, names usable instead of numbers)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_CRON_ATOM = re.compile(r"(?P<start>\*|[0-9a-z]+)(?:-(?P<end>[0-9a-z]+))?(?:/(?P<step>[0-9]+))?")


def cron_problem(expr: str) -> str | None:
    """Return why *expr* is not a valid 5-field cron expression (or macro), or None."""
    text = expr.strip().lower()
    if text.startswith("@"):
        if text in CRON_MACROS:
            return None
        return f"unknown shorthand; use one of {', '.join(CRON_MACROS)}"
    fields = text.split()
    if len(fields) != 5:
        return (f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                f"got {len(fields)}")
    for value, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in value.split(","):
            problem = _cron_part_problem(part, low, high, names)
            if problem:
                return f'{name} field "{value}": {problem}'
    return None


def _cron_part_problem(part: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _CRON_ATOM.fullmatch(part)
    if not match:
        return f'"{part}" is not a number, range, list or step'
    start, end, step = match.group("start"), match.group("end"), match.group("step")
    if step is not None and int(step) == 0:
        return "a step must be at least 1"
    if start == "*":
        return None if end is None else f'"{part}" cannot put a range after *'
    for token in (start, end):
        if token is None:
            continue
        if token.isdigit():
            if not low <= int(token) <= high:
                return f"{token} is out of range {low}-{high}"
        elif token not in names:
            return f'"{token}" is not a number between {low} and {high}'
    return None


def parse_triggers(file: str, node: Node, where: str) -> dict[str, Any]:
    """Validate an ``on:`` block; *where* reads like ``in pipeline "release"``.

    Returns plain values: ``{"push": {"branches": [...], "paths": [...]},
    "schedule": "0 3 * * *", "webhook": {"path": "/x"}, "pre_commit": {}, ...}``.
    """
    block = want_mapping(file, node, f"on {where}", allow_null=True)
    keys = keyed(file, block, f"in on {where}", TRIGGERS)
    out: dict[str, Any] = {}
    for name, (_key, value) in keys.items():
        label = f"on.{name} {where}"
        if name == "push":
            out[name] = _lists(file, value, label, where, ("branches", "paths"))
        elif name == "pull_request":
            pr = _lists(file, value, label, where, ("actions", "branches"))
            bad = [a for a in pr.get("actions", []) if a not in PR_ACTIONS]
            if bad:
                fail(file, value.line, f'unknown action "{bad[0]}" in {label}; '
                                       f"valid actions: {', '.join(PR_ACTIONS)}")
            out[name] = pr
        elif name == "schedule":
            expr = want_str(file, value, label)
            problem = cron_problem(expr)
            if problem:
                fail(file, value.line, f'bad cron expression "{expr}" in {label}: {problem}')
            out[name] = expr.strip()
        elif name == "webhook":
            hook = want_mapping(file, value, label)
            hook_keys = keyed(file, hook, f"in {label}", ("path",))
            if "path" not in hook_keys:
                fail(file, value.line, f"{label} requires path (e.g. path: /deploy)")
            path_node = hook_keys["path"][1]
            path = want_str(file, path_node, f"on.webhook.path {where}")
            if not path.startswith("/"):
                fail(file, path_node.line,
                     f'on.webhook.path {where} must start with "/", got "{path}"')
            out[name] = {"path": path}
        else:  # git hooks carry no settings
            if not (isinstance(value, Scalar) and value.kind == "null"):
                hook = want_mapping(file, value, label)
                keyed(file, hook, f"in {label}", ())
            out[name] = {}
    return out


def _lists(
    file: str, node: Node, label: str, where: str, names: tuple[str, ...]
) -> dict[str, list[str]]:
    block = want_mapping(file, node, label, allow_null=True)
    keys = keyed(file, block, f"in {label}", names)
    return {
        name: want_str_list(file, value, f"{label.split(' ', 1)[0]}.{name} {where}")
        for name, (_k, value) in keys.items()
    }
