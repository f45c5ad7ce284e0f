"""Token scopes: the vocabulary a route requires and a token grants, and the bundles.

A route names one required scope (or :data:`PUBLIC` / :data:`AUTHENTICATED`).
A token passes when it holds ``admin``, the exact scope, or a bundle that
expands to it. ``runner`` is a real bundle (cluster.md §3 notes that
runners in the Go controller end up with admin tokens): everything a runner
calls (reading secret values included), and nothing it does not (no token
or secret management, no run cancellation).
"""

from __future__ import annotations

from collections.abc import Iterable

from sparkwing.errors import UsageError

#: Route marker: no token needed (health, services, metrics).
PUBLIC = "public"
#: Route marker: any valid token, whatever its scopes.
AUTHENTICATED = "authenticated"

#: Every scope a token may be created with, and what it grants.
SCOPES: dict[str, str] = {
    "runs.read": "read runs, nodes, steps and events",
    "runs.write": "enqueue triggers, cancel, retry and delete runs",
    "triggers.read": "read trigger rows",
    "triggers.claim": "claim queued triggers, heartbeat and finish them (runners)",
    "nodes.claim": "claim ready nodes, heartbeat them, read node outputs (runners)",
    "runs.report": "record runs, nodes, steps and events of claimed work (runners)",
    "code.read": "fetch code sent with triggers (runners)",
    "logs.read": "read logs",
    "logs.write": "append logs",
    "approvals.write": "resolve approval gates",
    "secrets.read": "list secret names and read secret values at run time (runners)",
    "cache.read": "read artifact blobs and cache entries (runners)",
    "cache.write": "store artifact blobs, store and delete cache entries (runners)",
    "admin": "everything, including tokens and secrets",
}

#: Scopes that stand for several others.
BUNDLES: dict[str, frozenset[str]] = {
    "runner": frozenset({"runs.read", "triggers.read", "triggers.claim", "nodes.claim",
                         "runs.report", "logs.write", "code.read", "secrets.read",
                         "cache.read", "cache.write"}),
}


def valid_names() -> list[str]:
    """Every name ``--scope`` accepts: the scopes, then the bundles."""
    return [*SCOPES, *BUNDLES]


def parse_scopes(text: str, *, flag: str = "--scope") -> list[str]:
    """Parse a comma-separated scope list; raise :class:`UsageError` naming an unknown one."""
    return check_scopes([s.strip() for s in text.split(",") if s.strip()], flag=flag)


def check_scopes(names: Iterable[str], *, flag: str = "--scope") -> list[str]:
    """*names* sorted and deduplicated; :class:`UsageError` when empty or one is unknown.

    The one check of a scope list, for the CLI's ``--scope`` and the API's
    ``scopes`` field alike; *flag* names where the list came from.
    """
    names = list(names)
    if not names:
        raise UsageError(f"{flag}: give at least one scope; valid: {', '.join(valid_names())}")
    for name in names:
        if name not in SCOPES and name not in BUNDLES:
            raise UsageError(f"{flag}: unknown scope {name!r}; valid: {', '.join(valid_names())}")
    return sorted(set(names))


def expand(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes *scopes* grant, bundles expanded."""
    out: set[str] = set()
    for s in scopes:
        out.add(s)
        out |= BUNDLES.get(s, frozenset())
    return frozenset(out)


def grants(scopes: Iterable[str], required: str) -> bool:
    """Whether a token holding *scopes* may call a route requiring *required*."""
    if required in (PUBLIC, AUTHENTICATED):
        return True
    held = expand(scopes)
    return "admin" in held or required in held
