"""money: split an amount into shares that add up exactly.

Two arithmetic backends, picked with ``MONEY_BACKEND`` (``decimal``, the
default, or ``cents``, integer cents): the test matrix runs the same tests
against both, under several hash seeds.
"""

from __future__ import annotations

import os
from decimal import ROUND_DOWN, Decimal

__all__ = ["backend", "split"]


def backend() -> str:
    """The arithmetic backend in use."""
    name = os.environ.get("MONEY_BACKEND", "decimal")
    if name not in ("decimal", "cents"):
        raise ValueError(f"MONEY_BACKEND must be decimal or cents, got {name!r}")
    return name


def split(amount: str, ways: int) -> list[str]:
    """Split *amount* (e.g. ``"10.00"``) into *ways* shares, as strings with two decimals.

    The shares differ by at most one cent and always add up to *amount*;
    the larger shares come first.
    """
    if ways < 1:
        raise ValueError("ways must be at least 1")
    if backend() == "cents":
        total = round(Decimal(amount) * 100)
        base, extra = divmod(int(total), ways)
        cents = [base + (1 if i < extra else 0) for i in range(ways)]
        return [f"{c // 100}.{c % 100:02d}" for c in cents]
    total_d = Decimal(amount)
    base_d = (total_d / ways).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    left = int((total_d - base_d * ways) * 100)
    return [str(base_d + (Decimal("0.01") if i < left else 0)) for i in range(ways)]
