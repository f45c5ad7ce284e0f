"""Print N lines of exactly 80 bytes (79 characters and a newline) to stdout.

The W5 workload of every tool runs this same script as its one command:

    python emit_lines.py 200000
"""

from __future__ import annotations

import sys


def main() -> None:
    """Write the lines in large chunks so the producer itself costs little."""
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    pad = "x" * 67
    out = sys.stdout
    chunk: list[str] = []
    for i in range(n):
        chunk.append(f"line {i:06d} {pad}\n")
        if len(chunk) == 4096:
            out.write("".join(chunk))
            chunk.clear()
    out.write("".join(chunk))
    out.flush()


if __name__ == "__main__":
    main()
