"""Label and field selectors as the Kubernetes API server parses and matches them.

Label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
``k notin (a,b)``, comma-separated, all must hold. Field selectors:
``path=v``, ``path==v``, ``path!=v`` over dotted paths of the object
(``metadata.name``, ``status.phase``, ``spec.nodeName``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_SET_OP = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    """A selector the API server would reject with 400."""


@dataclass(frozen=True, slots=True)
class Requirement:
    """One term of a label selector."""

    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when *labels* satisfy this term."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if self.op in ("=", "in"):
            return present and value in self.values
        # "!=" and "notin" match objects without the label too
        return not present or value not in self.values


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> list[Requirement]:
    """Parse a label selector; an empty one matches everything."""
    reqs: list[Requirement] = []
    for term in _split_terms(text or ""):
        m = _SET_OP.match(term)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif "!=" in term:
            key, _, value = term.partition("!=")
            reqs.append(Requirement(_key(key), "!=", (value.strip(),)))
        elif "==" in term:
            key, _, value = term.partition("==")
            reqs.append(Requirement(_key(key), "=", (value.strip(),)))
        elif "=" in term:
            key, _, value = term.partition("=")
            reqs.append(Requirement(_key(key), "=", (value.strip(),)))
        elif term.startswith("!"):
            reqs.append(Requirement(_key(term[1:]), "!exists"))
        else:
            reqs.append(Requirement(_key(term), "exists"))
    return reqs


def _key(raw: str) -> str:
    key = raw.strip()
    if not key or any(c.isspace() for c in key):
        raise SelectorError(f"invalid label key {raw!r}")
    return key


def labels_match(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    """True when *labels* satisfy every requirement."""
    have = labels or {}
    return all(r.matches(have) for r in reqs)


def _field(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return ""
        cur = cur.get(part)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


#: Fields each resource may be selected on (the rest is a 400, as on a real server).
FIELD_SELECTABLE: dict[str, frozenset[str]] = {
    "jobs": frozenset({"metadata.name", "metadata.namespace", "status.successful"}),
    "pods": frozenset({"metadata.name", "metadata.namespace", "spec.nodeName",
                       "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                       "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}),
    "secrets": frozenset({"metadata.name", "metadata.namespace", "type"}),
}


def parse_field_selector(text: str | None, resource: str) -> Callable[[Mapping[str, Any]], bool]:
    """Parse a field selector for *resource* into a predicate over objects."""
    terms: list[tuple[str, bool, str]] = []
    allowed = FIELD_SELECTABLE.get(resource, frozenset({"metadata.name", "metadata.namespace"}))
    for term in _split_terms(text or ""):
        if "!=" in term:
            path, _, value = term.partition("!=")
            equal = False
        elif "==" in term:
            path, _, value = term.partition("==")
            equal = True
        elif "=" in term:
            path, _, value = term.partition("=")
            equal = True
        else:
            raise SelectorError(f"invalid field selector term {term!r}")
        path = path.strip()
        if path not in allowed:
            raise SelectorError(
                f'field label not supported: {path}'
            )
        terms.append((path, equal, value.strip()))

    def predicate(obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in terms)

    return predicate
