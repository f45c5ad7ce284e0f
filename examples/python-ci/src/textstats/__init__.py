"""textstats: small statistics about a text (the package the example pipeline checks)."""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["top_words", "word_count", "words"]

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def words(text: str) -> list[str]:
    """The words of *text*, lower-cased, in order."""
    return [w.lower() for w in _WORD.findall(text)]


def word_count(text: str) -> int:
    """How many words *text* holds."""
    return len(words(text))


def top_words(text: str, n: int = 3) -> list[tuple[str, int]]:
    """The *n* most common words with their counts (ties: alphabetical)."""
    counts = Counter(words(text))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
