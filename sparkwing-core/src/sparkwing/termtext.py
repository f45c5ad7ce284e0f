"""Making recorded job output safe to print on a terminal.

A job's log holds whatever its commands printed, escape sequences
included. Replayed on a terminal (``sparkwing runs logs``), those could
retitle the window, move the cursor, clear the screen, switch character
sets or plant a hyperlink. :func:`terminal_safe` keeps only colours (SGR
sequences, ``ESC [ ... m``) and only when colour is on; every other escape
sequence and control character is removed. A carriage return keeps what a
terminal would show: the text after the last one.
"""

from __future__ import annotations

import re

# ESC [ ... final (CSI), ESC ] ... BEL/ST (OSC), ESC P/X/^/_ ... ST (DCS, SOS, PM, APC),
# ESC + one character (charset switches, resets, cursor save/restore), and the 8-bit forms.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"
    r"|\x1b"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
)
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
# C0 controls but tab and newline, DEL, and the C1 range.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_RESET = "\x1b[0m"


def terminal_safe(text: str, colour: bool = False) -> str:
    """*text* without escape sequences or control characters (colours kept when *colour*).

    When colours are kept and the text leaves one switched on, a reset is
    appended so it does not bleed into what is printed next.
    """
    if "\r" in text:
        text = "\n".join(_last_overwrite(line) for line in text.split("\n"))
    if not _CONTROLS.search(text):
        return text
    kept: list[str] = []

    def escape(match: re.Match[str]) -> str:
        seq = match.group(0)
        if colour and _SGR.fullmatch(seq):
            kept.append(seq)
            return seq
        return ""

    text = _ESCAPES.sub(escape, text)
    if not kept:
        return _CONTROLS.sub("", text)
    text = _strip_controls_keeping_sgr(text)
    if kept[-1] not in (_RESET, "\x1b[m"):
        text += _RESET
    return text


def _last_overwrite(line: str) -> str:
    """What a terminal shows for a line with carriage returns: the last non-empty part."""
    parts = [p for p in line.split("\r") if p]
    return parts[-1] if parts else ""


def _strip_controls_keeping_sgr(text: str) -> str:
    pieces = []
    last = 0
    for m in _SGR.finditer(text):
        pieces.append(_CONTROLS.sub("", text[last:m.start()]))
        pieces.append(m.group(0))
        last = m.end()
    pieces.append(_CONTROLS.sub("", text[last:]))
    return "".join(pieces)
