"""Cutting a command's output, read in chunks of bytes, into whole lines, and decoding them."""

from __future__ import annotations

from codecs import utf_8_decode
from typing import AnyStr


class LineSplitter:
    """Turns chunks of output into whole lines, still as bytes (see :func:`decode_lines`).

    :meth:`push` and :meth:`finish` return the lines completed so far as one
    block of bytes, the lines joined by ``\\n`` without the last newline
    (``b""`` is one empty line), or ``None`` when no line was completed. The
    bytes after the last newline wait for the next chunk: a newline byte
    never sits inside a UTF-8 sequence, so decoding whole lines at a time is
    decoding the stream, and a character cut between two chunks is decoded
    whole.
    """

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # output after the last newline read so far

    def push(self, data: bytes) -> bytes | None:
        """Add a chunk; return the lines it completed, or ``None``."""
        cut = data.rfind(b"\n")
        if cut < 0:
            if data:
                self._pending.append(data)
            return None
        pending = self._pending
        if pending:
            lines = b"".join([*pending, memoryview(data)[:cut]])
            pending.clear()
        else:
            lines = data[:cut]
        if cut + 1 < len(data):
            pending.append(data[cut + 1:])
        return lines

    def finish(self) -> bytes | None:
        """Return the last line when the output did not end with a newline, else ``None``."""
        if not self._pending:
            return None
        data = b"".join(self._pending)
        self._pending.clear()
        return data


def decode_lines(data: bytes) -> str:
    """The text of lines from :class:`LineSplitter`.

    UTF-8 with invalid bytes as U+FFFD; each line's trailing carriage
    returns are dropped (CRLF output).
    """
    text: str = utf_8_decode(data, "replace", True)[0]
    if "\r" in text:  # drop the carriage returns ending each line
        text = "\n".join([line.rstrip("\r") for line in text.split("\n")])
    return text


def tail_start(lines: AnyStr, n: int) -> int:
    """Where the last *n* (at least 1; or fewer) lines of *lines*, joined by newlines, begin."""
    newline = "\n" if isinstance(lines, str) else b"\n"
    end = len(lines)
    for _ in range(n):
        end = lines.rfind(newline, 0, end)
        if end < 0:
            break
    return end + 1


def tail_lines(text: str, n: int) -> list[str]:
    """The last *n* (at least 1; or fewer) lines of *text*, lines joined by ``\\n``.

    Only the tail is copied, unlike ``text.rsplit("\\n", n)``, which copies the rest too.
    """
    return text[tail_start(text, n):].split("\n")


def decoded_tail(data: bytes, n: int) -> list[str]:
    """The last *n* lines of lines from :class:`LineSplitter`, decoded by :func:`decode_lines`.

    Only the tail is decoded: a line starts after a newline byte, so its
    text is the same as in the decoded whole.
    """
    return decode_lines(data[tail_start(data, n):]).split("\n")
