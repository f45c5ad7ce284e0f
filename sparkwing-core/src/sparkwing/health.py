"""Findings of ``sparkwing doctor``: one checked fact each, with what to do about it.

Stores and the CLI report what they checked as :class:`Finding` records;
the doctor command prints them (or emits them as JSON) and exits 1 when
any of them failed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Finding statuses, from fine to broken.
STATUSES = ("ok", "warn", "fail")


@dataclass(slots=True)
class Finding:
    """One checked fact: what was checked, how it stands, and how to fix it when it does not."""

    #: Short dotted name of the check, e.g. ``state.integrity``.
    check: str
    #: ``ok``, ``warn`` (works, but deserves attention) or ``fail`` (broken).
    status: str
    #: What was found, one line.
    detail: str
    #: What to do about it (``""`` when nothing is needed).
    hint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as a JSON-serialisable dict."""
        return asdict(self)


def worst(findings: list[Finding]) -> str:
    """The worst status among *findings* (``ok`` when there are none)."""
    rank = max((STATUSES.index(f.status) for f in findings), default=0)
    return STATUSES[rank]
