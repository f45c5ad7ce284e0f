"""Turning ids and user keys into object-key segments, and back.

Object stores take almost any UTF-8 key, but the stores built on them need
each id (a run id, a node id such as ``build/linux``, a memo key) to stay
*one* ``/``-separated segment, so that a listing by prefix finds exactly one
stream or one run. :func:`segment` percent-escapes every character outside
``[A-Za-z0-9._-]`` (and a leading dot), which keeps distinct ids distinct
and keeps prefixes: if ``a`` is a prefix of ``b`` then ``segment(a)`` is a
prefix of ``segment(b)``, as long as neither was shortened.

A segment longer than :data:`MAX_SEGMENT` characters is shortened to its
first :data:`KEEP` escaped characters, ``~`` and 16 hex digits of the id's
sha256; ``~`` never appears in an escaped id, so a shortened segment is
recognisable and :func:`unsegment` returns ``None`` for it (the stores keep
the full id inside the object in that case).
"""

from __future__ import annotations

import hashlib

#: Longest escaped segment kept whole.
MAX_SEGMENT = 180
#: Escaped characters kept in front of the hash when a segment is shortened.
KEEP = 120

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def escape(text: str) -> str:
    """Percent-escape *text* into ``[A-Za-z0-9._%-]`` (a leading ``.`` is escaped too)."""
    out: list[str] = []
    for i, ch in enumerate(text):
        if ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def unescape(text: str) -> str:
    """Invert :func:`escape`; raises :class:`ValueError` on a malformed escape."""
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(ch.encode("utf-8"))
            i += 1
    return raw.decode("utf-8")


def _cut(escaped: str, n: int) -> str:
    """The first at most *n* characters of *escaped*, never splitting a ``%XX`` escape."""
    cut = escaped[:n]
    pct = cut.rfind("%", max(0, n - 2))
    if pct >= 0 and pct + 3 > len(cut):
        cut = cut[:pct]
    return cut


def segment(text: str) -> str:
    """Return *text* as one key segment (see the module docstring)."""
    escaped = escape(text)
    if len(escaped) <= MAX_SEGMENT:
        return escaped
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return f"{_cut(escaped, KEEP)}~{digest}"


def segment_prefix(text: str) -> str:
    """Return a key prefix under which every :func:`segment` starting with *text* lies.

    Shortened segments keep only their first :data:`KEEP` escaped characters,
    so a long *text* is cut to that many; callers filter by the full id.
    """
    escaped = escape(text)
    if len(escaped) <= KEEP:
        return escaped
    return _cut(escaped, KEEP)


def unsegment(seg: str) -> str | None:
    """Return the id a segment stands for, or ``None`` for a shortened (hashed) one."""
    if "~" in seg:
        return None
    try:
        return unescape(seg)
    except (ValueError, UnicodeDecodeError):
        return None


def is_shortened(seg: str) -> bool:
    """Whether :func:`segment` shortened this segment (its id is kept elsewhere)."""
    return "~" in seg
