"""What the text scorers share: a batch-scoring interface, and a tool that scores a draft.

Sentiment (:mod:`textgym.tools.sentiment`) and toxicity (:mod:`textgym.tools.toxicity`)
differ only in what their number means and how it is printed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from textgym.tool import Tool, ToolError

__all__ = ["TextScorer", "ScoringTool"]


class TextScorer(ABC):
    """Texts in, one float each out; the subclass documents the range."""

    name: str = "scorer"

    @abstractmethod
    def score(self, texts: Sequence[str]) -> list[float]:
        """Score a batch. Must not raise on any string, including the empty one."""

    def __call__(self, text: str) -> float:
        return self.score([text])[0]


class ScoringTool(Tool):
    """``<request><Name>draft<call>`` → the draft's score, formatted by :meth:`format`."""

    argument = "text"
    argument_description = "the text to score"

    def __init__(self, scorer: TextScorer, max_query_chars: int = 2000):
        self.scorer = scorer
        self.max_query_chars = int(max_query_chars)

    def format(self, score: float) -> str:
        return f"{score:.2f}"

    def __call__(self, query: str) -> str:
        if not query.strip():
            raise ToolError(f"empty text; write the draft between <{self.name}> and <call>")
        if len(query) > self.max_query_chars:
            raise ToolError(f"text too long ({len(query)} chars, limit {self.max_query_chars})")
        return self.format(self.scorer(query))
