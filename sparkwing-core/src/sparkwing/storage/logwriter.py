"""The text methods of a log writer that keeps records as UTF-8 bytes.

A subclass implements :meth:`RecordBytesWriter.write_bytes` and gets
:meth:`~RecordBytesWriter.write` and :meth:`~RecordBytesWriter.write_raw`
of :class:`~sparkwing.storage.contracts.LogWriter`, each checking that the
records keep their framing and encoding them once.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import StoreError


class RecordBytesWriter:
    """``write`` and ``write_raw`` over the subclass's ``write_bytes``."""

    def write(self, lines: Iterable[str]) -> None:
        """Append JSON records, one per element, each without its trailing newline."""
        batch = list(lines)
        if not batch:
            return
        for line in batch:
            if "\n" in line:
                raise StoreError("a log record must not contain a newline")
        self.write_raw("\n".join(batch) + "\n")

    def write_raw(self, text: str) -> None:
        """Append already-framed text: complete ``\\n``-terminated JSON lines.

        Encoded as UTF-8, a lone surrogate as ``?``.
        """
        if text and text[-1] != "\n":
            raise StoreError("write_raw() text must end with a newline")
        self.write_bytes(text.encode("utf-8", "replace"))

    def write_bytes(self, data: bytes) -> None:
        """Append already-framed records encoded as UTF-8 (``\\n``-terminated JSON lines)."""
        raise NotImplementedError


def check_framed(data: bytes) -> None:
    """Raise :class:`StoreError` unless *data* (not empty) ends with a newline."""
    if data[-1:] != b"\n":
        raise StoreError("write_bytes() data must end with a newline")
