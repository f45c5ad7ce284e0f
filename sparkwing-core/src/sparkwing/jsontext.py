"""Compact JSON text (``separators=(",", ":")``, non-ASCII kept) from one reused C encoder.

``json.JSONEncoder.encode`` builds a new C encoder (and a closure) on every
call, about half the cost of encoding a small event payload. :func:`dumps`
keeps one and gives the same text; a value it cannot take (a circular
structure, or one the C encoder is missing for) goes through the standard
encoder, which raises the usual ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import json
from typing import Any

_standard = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_make: Any = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator

# No circular-reference markers: a circular value recurses until RecursionError and is
# then handed to the standard encoder, which names the problem.
_fast: Any = None if _make is None else _make(
    None, _standard.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)


def dumps(value: Any) -> str:
    """*value* as compact JSON text (what ``json.dumps(..., separators=(",", ":"),
    ensure_ascii=False)`` writes)."""
    if _fast is None or isinstance(value, str):
        return _standard.encode(value)
    try:
        return "".join(_fast(value, 0))
    except RecursionError:
        return _standard.encode(value)
