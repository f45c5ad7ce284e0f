"""The log record format: one JSON object per line.

A record has the keys ``ts`` (RFC 3339 UTC with microseconds, e.g.
``2026-11-23T17:41:43.123456Z``), ``level`` (``info``, ``warn``, ``error`` or
``debug``), ``node``, ``step``, ``event``, ``msg`` and ``attrs``, in that
order; empty fields are left out (a plain message has no ``event``). Lines
are compact JSON with non-ASCII characters kept as UTF-8.

:func:`format_output_bytes` is the hot path: it frames a whole block of
command output lines, as the bytes read, as ``exec_line`` records in one
UTF-8 string, computing the timestamp and the constant part of every record
once per block and doing no Python work per line; it declines output that
needs more than framing (JSON escapes, non-ASCII). :func:`format_output_text`
does the same for decoded text, escaping each line with the C JSON string
encoder where needed (:func:`format_output_lines` for a list of lines).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from json.encoder import encode_basestring as _encode_str  # C-accelerated in CPython
from typing import Any

from ..events import LOG_EXEC_LINE
from ..jsontext import dumps as _dumps

#: The levels a record may carry.
LEVELS = frozenset({"info", "warn", "error", "debug"})

#: The standard keys of a record, in the order they are written.
RECORD_KEYS = ("ts", "level", "node", "step", "event", "msg", "attrs")

#: Text that replaces a secret value in masked output.
MASK = "***"


#: The ``event`` key of command output records and the ``msg`` key that follows it.
_EXEC_LINE_EVENT = f',"event":{_encode_str(LOG_EXEC_LINE)},"msg":'

#: The characters a JSON string escapes, bar the newline: ``"``, ``\`` and the other control
#: characters, the ones common in command output first.
_JSON_ESCAPED = ('"', "\\", "\t", "\r", "\x1b", "\b",
                 *(chr(c) for c in range(0x20) if chr(c) not in "\t\r\x1b\b\n"))
#: The same characters as byte values.
_JSON_ESCAPED_BYTES = tuple(map(ord, _JSON_ESCAPED))
#: About how much output :func:`format_output_text` frames at a time when some of it
#: needs escaping (what one read of a command's pipe used to hold).
PIECE_CHARS = 1 << 16


#: The last whole second formatted and its text (one tuple: threads swap it whole).
_last_second: tuple[int, str] = (-1, "")


def format_ts(t: float) -> str:
    """Return *t* (seconds since the epoch) as RFC 3339 UTC with microseconds."""
    global _last_second
    micros = round(t * 1_000_000)
    secs, us = divmod(micros, 1_000_000)
    cached = _last_second
    if cached[0] == secs:  # records come in bursts within one second: format it once
        text = cached[1]
    else:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
        _last_second = (secs, text)
    return f"{text}.{us:06d}Z"


def parse_ts(value: str) -> float:
    """Return the epoch seconds of an RFC 3339 UTC timestamp written by :func:`format_ts`.

    Fractions of any length (or none) are accepted; a ``+00:00`` suffix is
    accepted in place of ``Z``. Raises :class:`ValueError` on other input.
    """
    import calendar

    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1]
    elif text.endswith("+00:00"):
        text = text[:-6]
    else:
        raise ValueError(f"not an RFC 3339 UTC timestamp: {value!r}")
    base, _, frac = text.partition(".")
    if frac and not frac.isdigit():
        raise ValueError(f"not an RFC 3339 UTC timestamp: {value!r}")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return secs + (int(frac) / 10 ** len(frac) if frac else 0.0)


def make_record(
    msg: str = "",
    *,
    level: str = "info",
    node: str = "",
    step: str = "",
    event: str = "",
    attrs: Mapping[str, Any] | None = None,
    ts: float | None = None,
) -> str:
    """Return one record as a JSON line without its trailing newline.

    *ts* defaults to now. Empty ``node``, ``step``, ``event``, ``msg`` and
    ``attrs`` are omitted. Raises :class:`ValueError` for an unknown level.
    Attribute values that JSON cannot hold are written with ``str()``.
    """
    # Built piece by piece (what the JSON encoder would write for the dict, without
    # setting one up per record): the strings through the C string encoder.
    parts = _head(time.time() if ts is None else ts, level, node, step)
    if event:
        parts += [',"event":', _json_value(event)]
    if msg:
        parts += [',"msg":', _json_value(msg)]
    if attrs:
        try:
            text = _dumps(dict(attrs))
        except (TypeError, ValueError):
            text = json.dumps(dict(attrs), default=str, ensure_ascii=False, separators=(",", ":"))
        parts += [',"attrs":', text]
    parts.append("}")
    return "".join(parts)


def _json_value(value: Any) -> str:
    return _encode_str(value) if type(value) is str else _dumps(value)


def _head(ts: float, level: str, node: Any, step: Any) -> list[str]:
    """A record's text up to its ``event`` key, in pieces (ts, level and the given node and step).

    Raises :class:`ValueError` for an unknown level.
    """
    if level not in LEVELS:
        raise ValueError(f"log level must be one of info, warn, error, debug; got {level!r}")
    head = ['{"ts":"', format_ts(ts), '","level":"', level, '"']
    if node:
        head += [',"node":', _json_value(node)]
    if step:
        head += [',"step":', _json_value(step)]
    return head


def parse_record(line: str) -> dict[str, Any]:
    """Parse one record line into a dict with every standard key present.

    Missing keys get their empty value (``level`` defaults to ``info``);
    keys beyond the standard ones are kept. A line that is not a JSON
    object (text some tool wrote into a stream) is returned as a record
    whose ``msg`` is the line, so log viewers never fail on it.
    """
    text = line.rstrip("\r\n")
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        obj = {"msg": text}
    rec: dict[str, Any] = {
        "ts": "", "level": "info", "node": "", "step": "", "event": "", "msg": "", "attrs": {},
    }
    rec.update(obj)
    return rec


def _output_prefix(node: str, step: str, ts: float, level: str) -> str:
    """The text of an ``exec_line`` record up to its ``"msg":`` key (the same for a batch)."""
    head = _head(ts, level, node, step)
    head.append(_EXEC_LINE_EVENT)
    return "".join(head)


def format_output_lines(
    node: str, step: str, text_lines: Iterable[str], ts: float, level: str = "info"
) -> str:
    """Frame many lines of command output as ``exec_line`` records in one string.

    Every record gets the same timestamp *ts*; the result is newline
    terminated (empty for no lines) and ready for
    :meth:`~sparkwing.storage.contracts.LogWriter.write_raw`. Each element of
    *text_lines* is one output line without its newline (a newline inside an
    element is escaped, so framing stays intact). Empty ``node``/``step`` are
    omitted; ``msg`` is always written, even when the line is empty.
    """
    prefix = _output_prefix(node, step, ts, level)
    encoded = list(map(_encode_str, text_lines))
    if not encoded:
        return ""
    return prefix + ("}\n" + prefix).join(encoded) + "}\n"


def format_output_text(
    node: str, step: str, text: str, ts: float, level: str = "info"
) -> str:
    r"""Frame lines of command output given as one text as ``exec_line`` records in one string.

    *text* is one or more lines joined by newlines (``"\n".join(lines)``,
    so ``""`` is one empty line); the result is the same as
    :func:`format_output_lines` of those lines. Text with nothing JSON
    escapes (no ``"``, ``\`` or control character but the newlines; a
    ``memchr`` scan per such character tells), the usual case, is framed
    as it is, without a Python call per line: each newline is replaced with
    the end of a record and the start of the next. Other text is split and
    each line escaped with the C JSON string encoder (escaping the whole
    text at once is no faster); text longer than :data:`PIECE_CHARS` is
    first cut at line ends into pieces of about that size, each framed on
    its own, so a line that needs escaping slows only its piece.
    """
    if any(map(text.__contains__, _JSON_ESCAPED)):
        pieces = _line_pieces(text, PIECE_CHARS)
        if len(pieces) > 1:
            return "".join([format_output_text(node, step, p, ts, level) for p in pieces])
        return format_output_lines(node, step, text.split("\n"), ts, level)
    prefix = _output_prefix(node, step, ts, level)
    return "".join((prefix, '"', text.replace("\n", '"}\n' + prefix + '"'), '"}\n'))


def _line_pieces(text: str, size: int) -> list[str]:
    """*text* (lines joined by newlines) cut at the first newline after every *size* characters."""
    pieces = []
    start = 0
    while True:
        cut = text.find("\n", start + size)
        if cut < 0:
            pieces.append(text[start:])
            return pieces
        pieces.append(text[start:cut])
        start = cut + 1


def format_output_bytes(
    node: str, step: str, data: bytes, ts: float, level: str = "info"
) -> bytes | None:
    """Frame lines of command output given as bytes as ``exec_line`` records, UTF-8 encoded.

    *data* is one or more lines joined by newlines, as a command wrote them.
    When it is ASCII with nothing JSON escapes (see :func:`format_output_text`)
    the result is ``format_output_text(node, step, data.decode(), ts,
    level).encode()``, made without decoding or encoding: each newline is
    replaced with the end of a record and the start of the next. Other
    output (escapes, carriage returns, non-ASCII or invalid UTF-8) gives
    ``None``: decode it and use :func:`format_output_text`.
    """
    if not data.isascii() or any(map(data.__contains__, _JSON_ESCAPED_BYTES)):
        return None
    prefix = _output_prefix(node, step, ts, level).encode("utf-8", "replace")
    return b"".join((prefix, b'"', data.replace(b"\n", b'"}\n' + prefix + b'"'), b'"}\n'))


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret value in *text* with ``***``.

    Longer secrets are replaced first, so a secret that contains another is
    masked whole; empty values are ignored. Apply it to a raw chunk of
    output before it is split into lines, so a multi-line secret is masked
    too.
    """
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text
