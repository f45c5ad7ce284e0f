"""Unit tests of textstats (run with: python -m unittest discover -s tests)."""

from __future__ import annotations

import unittest

from textstats import top_words, word_count, words


class WordsTest(unittest.TestCase):
    def test_words_are_lower_cased(self) -> None:
        self.assertEqual(words("The cat, the HAT."), ["the", "cat", "the", "hat"])

    def test_count(self) -> None:
        self.assertEqual(word_count("one two  three\nfour"), 4)
        self.assertEqual(word_count(""), 0)

    def test_top_words_break_ties_alphabetically(self) -> None:
        self.assertEqual(top_words("b a b a c", 2), [("a", 2), ("b", 2)])


if __name__ == "__main__":
    unittest.main()
