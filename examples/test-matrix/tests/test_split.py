"""Tests of money.split, run once per matrix variant."""

from __future__ import annotations

import unittest
from decimal import Decimal

from money import backend, split


class SplitTest(unittest.TestCase):
    def test_shares_add_up(self) -> None:
        for amount, ways in (("10.00", 3), ("0.05", 4), ("100.01", 7), ("1.00", 1)):
            shares = split(amount, ways)
            self.assertEqual(len(shares), ways)
            self.assertEqual(sum(Decimal(s) for s in shares), Decimal(amount), (amount, ways))

    def test_larger_shares_first(self) -> None:
        self.assertEqual(split("10.00", 3), ["3.34", "3.33", "3.33"])

    def test_sets_of_shares_do_not_depend_on_hash_order(self) -> None:
        self.assertEqual(sorted(set(split("0.05", 4))), ["0.01", "0.02"])

    def test_backend_is_known(self) -> None:
        self.assertIn(backend(), ("decimal", "cents"))


if __name__ == "__main__":
    unittest.main()
