"""The ``<Wiki>`` tool: a :class:`SearchIndex` behind the :class:`~textgym.tool.Tool`
interface, its response capped in the env's own tokens."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from textgym.checks import positive_int
from textgym.tokenizer import encode_text
from textgym.tool import Tool, ToolError, ToolOutput
from textgym.tools.search.corpus import Corpus
from textgym.tools.search.index import SearchIndex
from textgym.tools.search.query import sanitize_query
from textgym.tools.search.render import render_hits

__all__ = ["TokenCounter", "WikiSearch"]


class WikiSearch(Tool):
    """The ``<Wiki>`` tool: keyword search over an encyclopedia.

    ``WikiSearch(index).run("Anna Vorkel born")`` returns the top ``k`` articles as the
    response text::

        [1] Anna Vorkel
        Anna Vorkel was born in Ostrevale in 1801.
        [2] ...

    and, as the result's ``data``, the hits that text shows:
    ``[{"title": "Anna Vorkel", "text": "Anna Vorkel was born in Ostrevale in 1801."}, ...]``
    (an empty list for no results).

    Args:
        index: a :class:`SearchIndex`, or a corpus to index (see :func:`load_corpus`).
        k: number of results (3).
        max_tokens: cap on the response in tokens (None: no cap beyond
            ``max_output_chars``); environments set it to their ``max_response_tokens``.
        count_tokens: token counter for the cap (default: UTF-8 bytes, exact for ByT5).
        snippet_chars: most characters of each snippet (200).
    """

    name = "Wiki"
    # Short: the system prompt carries it into every episode's context.
    description = "keyword search; returns top articles, each a title and its best sentence"
    argument = "query"
    argument_description = "search keywords"
    max_output_chars = 8000

    def __init__(
        self,
        index: SearchIndex | Corpus | str | os.PathLike[str] | Iterable[Any],
        *,
        k: int = 3,
        max_tokens: int | None = None,
        count_tokens: Callable[[str], int] | None = None,
        snippet_chars: int = 200,
    ):
        positive_int("k", k)
        self.index = index if isinstance(index, SearchIndex) else SearchIndex(index)
        self.k = k
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens
        self.snippet_chars = snippet_chars

    def __call__(self, query: str) -> ToolOutput:
        terms = sanitize_query(query)
        if not terms:
            raise ToolError("empty query: write a few keywords, e.g. a name and what you want")
        hits = self.index.search(query, self.k, snippet_chars=self.snippet_chars)
        if not hits:
            return ToolOutput(f"No results for: {' '.join(terms)}", [])
        text, shown = render_hits(hits, max_tokens=self.max_tokens, count_tokens=self.count_tokens)
        return ToolOutput(text, shown)

    def bind(self, tokenizer: Any, max_response_tokens: int) -> None:
        """Fill the response with whole results up to the env's cap, counted in the env's
        tokens, so the env's own cut (mid-snippet, with ``...``) is never needed. Settings
        given to the constructor are kept."""
        if self.max_tokens is None:
            self.max_tokens = max_response_tokens
        if self.count_tokens is None:
            self.count_tokens = TokenCounter(tokenizer)

    def close(self) -> None:
        self.index.close()


class TokenCounter:
    """Counts tokens of tool output the way an env encodes it (picklable, unlike a
    lambda, so a tool bound to an env still goes to a subprocess vector env)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(encode_text(self.tokenizer, text))
