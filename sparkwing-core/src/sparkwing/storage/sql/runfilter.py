"""What a :class:`~sparkwing.storage.records.RunFilter` means, as dialect-neutral conditions.

Both SQL stores turn a filter into the same list of :class:`Condition`
values with :func:`conditions` and render each one in their own SQL (text
with ``?`` marks for SQLite, SQLAlchemy expressions for PostgreSQL), so
the meaning of a filter is written once:

* ``pipelines``/``statuses``: any listed value matches; ``!x`` excludes ``x``;
* ``branch``: exact match; ``sha_prefix``: case-insensitive prefix;
* ``search``: case-insensitive substring of any of :data:`SEARCH_COLUMNS`;
* ``since``: ``created_at >= since``; ``before_id``: ``id < before_id``
  (ids compare bytewise).

Patterns for ``LIKE`` are escaped with :func:`like_escape` and use ``\\``
as the escape character.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..records import RunFilter

#: Columns a free-text search looks in.
SEARCH_COLUMNS = ("id", "pipeline", "git_branch", "git_sha", "error")

#: Condition operators.
IN, NOT_IN, EQ, ILIKE_ANY, GE, LT = "in", "not_in", "eq", "ilike_any", "ge", "lt"


class Condition(NamedTuple):
    """``columns op value``: for ``ILIKE_ANY`` any column may match the pattern *value*."""

    op: str
    columns: tuple[str, ...]
    value: Any


def split_values(values: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split a filter list into (included, excluded) values; ``!x`` excludes ``x``."""
    inc: list[str] = []
    exc: list[str] = []
    for v in values:
        if v.startswith("!"):
            if v[1:]:
                exc.append(v[1:])
        elif v:
            inc.append(v)
    return inc, exc


def like_escape(text: str) -> str:
    """Escape ``\\``, ``%`` and ``_`` for a ``LIKE ... ESCAPE '\\'`` pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def conditions(flt: RunFilter) -> list[Condition]:
    """Return the conditions *flt* sets, all of which must hold (AND)."""
    out: list[Condition] = []
    for column, values in (("pipeline", flt.pipelines), ("status", flt.statuses)):
        inc, exc = split_values(values)
        if inc:
            out.append(Condition(IN, (column,), inc))
        if exc:
            out.append(Condition(NOT_IN, (column,), exc))
    if flt.branch:
        out.append(Condition(EQ, ("git_branch",), flt.branch))
    if flt.sha_prefix:
        out.append(Condition(ILIKE_ANY, ("git_sha",), like_escape(flt.sha_prefix) + "%"))
    if flt.search:
        out.append(Condition(ILIKE_ANY, SEARCH_COLUMNS, f"%{like_escape(flt.search)}%"))
    if flt.since is not None:
        out.append(Condition(GE, ("created_at",), flt.since))
    if flt.before_id:
        out.append(Condition(LT, ("id",), flt.before_id))
    return out
