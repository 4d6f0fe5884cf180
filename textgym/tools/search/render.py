"""Rendering: the snippet of each hit, and the response text an agent reads.

The snippet is the sentence that holds the most distinct query terms not already in the
title (then the most query terms, then the earliest), cut around the first hit when long.
A sentence rather than FTS5's fixed token window because a reader (an agent, or the
oracle) needs a whole statement, not a fragment cut mid-clause. The response is capped in
tokens: results are added while they fit, and only the first is ever shortened to fit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from textgym.tools.search.query import TERM

__all__ = [
    "HIT_CLOSE",
    "HIT_OPEN",
    "SearchHit",
    "best_sentence",
    "clean",
    "format_hits",
    "render_hits",
]

#: ``highlight()`` markers around each matched term; removed from the output.
HIT_OPEN, HIT_CLOSE = "\x01", "\x02"
_HIT = re.compile(f"{HIT_OPEN}(.*?){HIT_CLOSE}", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class SearchHit:
    """One search result: the document's title, its best sentence, and its BM25 rank
    (lower is better, as FTS5 reports it)."""

    title: str
    snippet: str
    rank: float


def clean(text: str) -> str:
    return " ".join(text.replace(HIT_OPEN, "").replace(HIT_CLOSE, "").split())


def best_sentence(highlighted: str, max_chars: int = 200, title: str = "") -> str:
    """The best sentence of a ``highlight()``-marked text, at most ``max_chars`` characters
    (cut around its first hit).

    Best means the most distinct hits on query words that are *not* in ``title``, then the
    most distinct hits overall, then the earliest. The title is shown next to the snippet,
    so the snippet should cover the rest of the query: for "Eiffel Tower completed" the
    sentence saying when the tower was completed, not the first one naming the tower.
    With no hit in the text (a title-only match), the first sentence.
    """
    title_words = {word.lower() for word in TERM.findall(title)}
    best, best_score = "", (-1, -1)
    for sentence in _SENTENCE_END.split(highlighted):
        if not sentence.strip():
            continue
        hits = {hit.lower() for hit in _HIT.findall(sentence)}
        score = (len(hits - title_words), len(hits))
        if score > best_score:
            best, best_score = sentence, score
    first_hit = best.find(HIT_OPEN)
    text = clean(best)
    if len(text) <= max_chars:
        return text
    # Centre the window a little before the first hit, on word boundaries.
    before = clean(best[: max(first_hit, 0)])
    start = max(0, len(before) - max_chars // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(text), start + max_chars - 6)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + max_chars // 2 else end
    return ("..." if start else "") + text[start:end].strip() + ("..." if end < len(text) else "")


def format_hits(
    hits: list[SearchHit],
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """Render hits as ``[1] Title\nsnippet`` blocks, capped at ``max_tokens`` (the text of
    :func:`render_hits`)."""
    return render_hits(hits, max_tokens=max_tokens, count_tokens=count_tokens)[0]


def render_hits(
    hits: list[SearchHit],
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[str, list[dict[str, str]]]:
    """The response text, ``[1] Title\nsnippet`` blocks capped at ``max_tokens``, and the
    hits it shows as ``{"title", "text"}`` records (the tool's structured data).

    Whole results are dropped from the end to fit; the first result alone is shortened
    (snippet, then title) when even it does not fit, so the response is never empty. The
    records hold exactly what the text shows, shortened hit included: a reader of the data
    knows no more than the agent reading the text.
    """
    count = count_tokens or (lambda s: len(s.encode("utf-8")))
    shown = [{"title": hit.title, "text": hit.snippet} for hit in hits]
    blocks = [f"[{i}] {hit['title']}\n{hit['text']}" for i, hit in enumerate(shown, 1)]
    if max_tokens is None:
        return "\n".join(blocks), shown
    response, kept = "", 0
    for block in blocks:
        candidate = f"{response}\n{block}" if response else block
        if count(candidate) <= max_tokens:
            response, kept = candidate, kept + 1
        elif not response:
            response = _shorten_to_fit(block, max_tokens, count)
            title, _, text = response.removeprefix("[1] ").partition("\n")
            return response, [{"title": title, "text": text}] if response else []
        else:
            break
    return response, shown[:kept]


def _shorten_to_fit(text: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` plus ``...`` that fits (binary search on length)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if count(text[:mid].rstrip() + "...") <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "..." if low else ""
