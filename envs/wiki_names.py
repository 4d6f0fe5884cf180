"""Invented names for the generated encyclopedia: pronounceable words whose Porter stems
are unique across the corpus, so a BM25 query with an entity's name finds its article.

The stems are computed by SQLite's own FTS5 tokenizer, the one the search index uses
(:data:`textgym.tools.search.index_file.TOKENIZER`), so "unique stem" means unique to the
index, not to some other stemmer.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence

from textgym.tools.search.index_file import TOKENIZER

__all__ = ["PLACE_ENDINGS", "NameBank"]

# Syllables for invented words: simple onsets, plain vowels, light codas, so names are
# pronounceable ("Vantari", "Ostrevale") yet unlike any English word the templates use.
_ONSETS = tuple("b br d dr f g gr h j k l m n p r s st t th tr v z".split())
_VOWELS = tuple("a e i o u a e o".split())
_CODAS = ("", "", "", "", "n", "r", "l", "th", "nd", "m", "rn", "nt", "rk", "x")
PLACE_ENDINGS = ("vale", "mark", "hold", "wick", "mere", "ford", "stead", "haven", "gard")


def _porter_stems(words: Sequence[str]) -> list[str]:
    """The FTS5 Porter stem of each word (joined, for multi-token words), computed by the
    same tokenizer the index uses."""
    con = sqlite3.connect(":memory:")
    try:
        con.execute(f"CREATE VIRTUAL TABLE w USING fts5(x, tokenize='{TOKENIZER}')")
        con.executemany("INSERT INTO w(rowid, x) VALUES (?, ?)", enumerate(words))
        con.execute("CREATE VIRTUAL TABLE v USING fts5vocab(w, 'instance')")
        parts: dict[int, list[tuple[int, str]]] = {}
        for term, doc, offset in con.execute("SELECT term, doc, offset FROM v"):
            parts.setdefault(doc, []).append((offset, term))
        return [" ".join(term for _, term in sorted(parts.get(i, []))) for i in range(len(words))]
    finally:
        con.close()


def _invent(rng: random.Random, syllables: int, ending: str = "") -> str:
    word = "".join(
        rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables)
    )
    return (word + ending).capitalize()


class NameBank:
    """Draws invented words whose Porter stems are unique across the whole corpus and
    differ from every word of the article templates."""

    def __init__(self, rng: random.Random, reserved: Sequence[str]):
        self.rng = rng
        self.used_stems: set[str] = set(_porter_stems([w.lower() for w in reserved]))
        self.used_words: set[str] = {w.lower() for w in reserved}

    def draw(
        self, n: int, *, syllables: tuple[int, ...] = (2, 3), endings: Sequence[str] = ("",)
    ) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            # Draw a surplus, stem the batch in one SQLite call, keep the unused stems.
            batch = [
                _invent(self.rng, self.rng.choice(syllables), self.rng.choice(endings))
                for _ in range(int((n - len(out)) * 1.3) + 8)
            ]
            for word, stem in zip(batch, _porter_stems([w.lower() for w in batch])):
                low = word.lower()
                if (
                    len(word) < 5
                    or len(word) > 14
                    or low in self.used_words
                    or not stem
                    or " " in stem
                    or stem in self.used_stems
                ):
                    continue
                self.used_words.add(low)
                self.used_stems.add(stem)
                out.append(word)
                if len(out) == n:
                    break
        return out
