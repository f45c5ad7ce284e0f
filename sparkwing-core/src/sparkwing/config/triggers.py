"""The ``on:`` block of a pipeline: which events start it.

``schedule`` is evaluated by ``sparkwing triggers tick`` and by the
dashboard while it runs (:mod:`sparkwing.triggers.schedule`); the git hook
triggers are used by ``sparkwing pipeline hooks install``; ``push``,
``pull_request``, ``workflow_dispatch`` and ``webhook`` are evaluated by
trigger plugins (sparkwing-github for the GitHub events). Cron
expressions are checked with croniter, imported only when a command
evaluates them (never on ``sparkwing run``'s start-up path).
"""

from __future__ import annotations

import re
from typing import Any

from .schema import fail, keyed, want_mapping, want_str, want_str_list
from .yamlload import Mapping as YamlMapping
from .yamlload import Node, Scalar, Sequence

#: Trigger names accepted under ``on:``.
TRIGGERS = (
    "post_commit",
    "pre_commit",
    "pre_push",
    "pull_request",
    "push",
    "schedule",
    "webhook",
    "workflow_dispatch",
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

#: The five fields of a cron expression, in order, with the values each takes.
CRON_FIELDS = {
    "minute": "0-59",
    "hour": "0-23",
    "day of month": "1-31",
    "month": "1-12 or jan-dec",
    "day of week": "0-7 or sun-sat",
}


def cron_shape_problem(expr: str) -> str | None:
    """Return why *expr* is not shaped like a 5-field cron expression or a shorthand, or None.

    A cheap check (no cron library): what ``sparkwing run`` does on its
    start-up path. :func:`cron_problem` checks the fields too.
    """
    text = expr.strip().lower()
    if text.startswith("@"):
        if text in CRON_MACROS:
            return None
        return f"unknown shorthand; use one of {', '.join(CRON_MACROS)}"
    fields = text.split()
    if len(fields) != 5:
        return (f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), "
                f"got {len(fields)}")
    return None


def cron_problem(expr: str) -> str | None:
    """Return why *expr* is not a valid 5-field cron expression (or shorthand), or None.

    The fields are checked by croniter (imported here only); the message
    names the first field croniter refuses (``hour field "24": out of range``).
    """
    problem = cron_shape_problem(expr)
    if problem or expr.strip().startswith("@"):
        return problem
    from croniter import CroniterError, croniter

    text = " ".join(expr.split())
    try:
        croniter(text)
        return None
    except (CroniterError, ValueError) as exc:
        whole = _croniter_detail(exc)
    fields = text.split()
    for i, (name, value) in enumerate(zip(CRON_FIELDS, fields, strict=True)):
        probe = ["*"] * 5
        probe[i] = value
        try:
            croniter(" ".join(probe))
        except (CroniterError, ValueError) as exc:
            return (f'{name} field "{value}": {_croniter_detail(exc)} '
                    f"(valid: {CRON_FIELDS[name]})")
    return whole


def _croniter_detail(exc: BaseException) -> str:
    """croniter's message without the expression it repeats, in sparkwing's words."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc)).strip()
    text = re.sub(r"\s*in field \d+", "", text)
    text = text.replace("is not acceptable, out of range", "out of range")
    text = text.replace("is not acceptable", "not valid")
    return text or "not valid"


def parse_schedule(
    file: str, node: Node, where: str, *, check_cron: bool = True,
) -> list[dict[str, str]]:
    """Validate ``on.schedule``: a list of ``{cron: EXPR}`` (or one cron string as shorthand).

    Returns ``[{"cron": "0 3 * * 1-5"}, ...]`` (whitespace normalised). With
    *check_cron* false only the shape of each expression is checked (no
    cron library import): ``sparkwing run`` never evaluates schedules.
    """
    label = f"on.schedule {where}"
    entries: list[tuple[int, str, Node]] = []  # (index, label, expression node)
    if isinstance(node, Scalar) and node.kind == "str":
        entries.append((0, label, node))
    elif isinstance(node, Sequence):
        if not node.items:
            fail(file, node.line, f"{label} must list at least one {{cron: EXPR}} entry")
        for i, item in enumerate(node.items):
            item_label = f"on.schedule[{i}] {where}"
            if not isinstance(item, YamlMapping):
                fail(file, item.line, f"{item_label} must be a mapping like "
                                      f'{{cron: "0 3 * * *"}}, got {item.describe()}')
            keys = keyed(file, item, f"in {item_label}", ("cron",))
            if "cron" not in keys:
                fail(file, item.line, f'{item_label} requires cron (e.g. cron: "0 3 * * *")')
            entries.append((i, f"on.schedule[{i}].cron {where}", keys["cron"][1]))
    else:
        fail(file, node.line, f'{label} must be a list of {{cron: EXPR}} entries (or one cron '
                              f"string), got {node.describe()}")
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for _i, entry_label, expr_node in entries:
        expr = " ".join(want_str(file, expr_node, entry_label).split())
        problem = cron_problem(expr) if check_cron else cron_shape_problem(expr)
        if problem:
            fail(file, expr_node.line, f'bad cron expression "{expr}" in {entry_label}: {problem}')
        if expr in seen:
            fail(file, expr_node.line,
                 f'duplicate cron expression "{expr}" in {label} (first on line {seen[expr]})')
        seen[expr] = expr_node.line
        out.append({"cron": expr})
    return out


def parse_triggers(
    file: str, node: Node, where: str, *, check_cron: bool = True,
) -> dict[str, Any]:
    """Validate an ``on:`` block; *where* reads like ``in pipeline "release"``.

    Returns plain values: ``{"push": {"branches": [...], "tags": [...], "paths": [...]},
    "schedule": [{"cron": "0 3 * * *"}], "webhook": {"path": "/x"}, "pre_commit": {}, ...}``.
    *check_cron* is passed to :func:`parse_schedule`.
    """
    block = want_mapping(file, node, f"on {where}", allow_null=True)
    keys = keyed(file, block, f"in on {where}", TRIGGERS)
    out: dict[str, Any] = {}
    for name, (_key, value) in keys.items():
        label = f"on.{name} {where}"
        if name == "push":
            out[name] = _lists(file, value, label, where, ("branches", "paths", "tags"))
        elif name == "pull_request":
            pr = _lists(file, value, label, where, ("actions", "branches"))
            bad = [a for a in pr.get("actions", []) if a not in PR_ACTIONS]
            if bad:
                fail(file, value.line, f'unknown action "{bad[0]}" in {label}; '
                                       f"valid actions: {', '.join(PR_ACTIONS)}")
            out[name] = pr
        elif name == "schedule":
            out[name] = parse_schedule(file, value, where, check_cron=check_cron)
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
