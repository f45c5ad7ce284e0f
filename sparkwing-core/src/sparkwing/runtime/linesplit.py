"""Cutting a command's output, read in chunks of bytes, into whole lines of text."""

from __future__ import annotations

from codecs import utf_8_decode


class LineSplitter:
    """Turns chunks of output into whole lines, decoded as UTF-8 (invalid bytes as U+FFFD).

    :meth:`push` and :meth:`finish` return the lines completed so far as one
    text, the lines joined by ``\\n`` (``""`` is one empty line), or
    ``None`` when no line was completed; a line's trailing carriage returns
    are dropped. The bytes after the last newline wait for the next chunk,
    undecoded: a newline byte never sits inside a UTF-8 sequence, so
    decoding whole lines at a time is decoding the stream, and a character
    cut between two chunks is decoded whole.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # output after the last newline read so far

    def push(self, data: bytes) -> str | None:
        """Add a chunk; return the lines it completed, or ``None``."""
        cut = data.rfind(b"\n")
        if cut < 0:
            if data:
                self._pending.append(data)
            return None
        pending = self._pending
        if pending:
            cut += sum(map(len, pending))
            pending.append(data)
            data = b"".join(pending)
            pending.clear()
        if cut + 1 < len(data):
            pending.append(data[cut + 1:])
        return self._decode(data, cut)

    def finish(self) -> str | None:
        """Return the last line when the output did not end with a newline, else ``None``."""
        if not self._pending:
            return None
        data = b"".join(self._pending)
        self._pending.clear()
        return self._decode(data, len(data))

    @staticmethod
    def _decode(data: bytes, end: int) -> str:
        text: str = utf_8_decode(memoryview(data)[:end], "replace", True)[0]
        if "\r" in text:  # CRLF output: drop the carriage returns ending each line
            text = "\n".join([line.rstrip("\r") for line in text.split("\n")])
        return text


def tail_lines(text: str, n: int) -> list[str]:
    """The last *n* (at least 1; or fewer) lines of *text*, lines joined by ``\\n``.

    Only the tail is copied, unlike ``text.rsplit("\\n", n)``, which copies the rest too.
    """
    end = len(text)
    for _ in range(n):
        end = text.rfind("\n", 0, end)
        if end < 0:
            break
    return text[end + 1:].split("\n")
