"""Did-you-mean suggestions by edit distance."""

from __future__ import annotations

from collections.abc import Iterable


def edit_distance(a: str, b: str) -> int:
    """Return the Levenshtein distance between *a* and *b*."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate nearest to *name* when it is close enough to be a typo, else None.

    Close enough means at most ``max(2, len(name) // 3)`` edits; ties go to
    the alphabetically first candidate.
    """
    limit = max(2, len(name) // 3)
    best: tuple[int, str] | None = None
    for candidate in candidates:
        d = edit_distance(name, candidate)
        if d <= limit and (best is None or (d, candidate) < best):
            best = (d, candidate)
    return best[1] if best else None
