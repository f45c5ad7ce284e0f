"""``python -m textstats FILE``: print the word count and the top words of FILE."""

from __future__ import annotations

import sys
from pathlib import Path

from . import top_words, word_count


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: textstats FILE", file=sys.stderr)
        return 2
    text = Path(args[0]).read_text(encoding="utf-8")
    print(f"words: {word_count(text)}")
    for word, count in top_words(text):
        print(f"{word}: {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
