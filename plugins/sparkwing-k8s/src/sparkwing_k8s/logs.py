"""Where a pod's log lines go: the node's log (records forwarded, other lines as output).

``node exec --log-to stdout`` writes the node's log records as JSON lines
on stdout; anything else the body prints goes to stderr. A container log
holds both, so each line that is a record (a JSON object starting with
``"ts"``) is forwarded as it is and every other line becomes an output line
of the node, as the ``process`` executor does with the two pipes.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

_RECORD_PREFIX = '{"ts":"'
#: Plain lines kept for error messages.
TAIL = 20


def is_record(line: str) -> bool:
    """True when *line* is a log record written by ``node exec`` (a JSON object with ``ts``)."""
    if not line.startswith(_RECORD_PREFIX):
        return False
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "ts" in value


class LogSink:
    """Hands pod log lines to a node logger (or drops them when there is none)."""

    def __init__(self, log: Any | None) -> None:
        self.log = log
        self.count = 0
        self.tail: deque[str] = deque(maxlen=TAIL)

    def lines(self, lines: list[str]) -> None:
        """Take a batch of lines (in order, without newlines)."""
        if not lines:
            return
        self.count += len(lines)
        records: list[str] = []
        plain: list[str] = []
        for raw in lines:
            line = raw.rstrip("\r")
            if is_record(line):
                if plain:
                    self._output(plain)
                    plain = []
                records.append(line)
            else:
                if records:
                    self._forward(records)
                    records = []
                plain.append(line)
                if line.strip():
                    self.tail.append(line)
        if records:
            self._forward(records)
        if plain:
            self._output(plain)

    def _forward(self, records: list[str]) -> None:
        if self.log is not None:
            self.log.forward("".join(f"{r}\n" for r in records))

    def _output(self, lines: list[str]) -> None:
        if self.log is not None:
            self.log.output(lines)

    def record(self, text: str, level: str = "info", attrs: dict[str, Any] | None = None) -> None:
        """Write one record of the executor's own (Job created, pod waiting, failure)."""
        if self.log is not None:
            self.log.record(text, level=level, attrs=attrs)
