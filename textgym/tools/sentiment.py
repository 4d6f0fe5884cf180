"""Sentiment scorers, and the ``Sentiment`` tool that lets an agent score a draft.

Every scorer maps a batch of texts to scores in ``[-1, 1]``: +1 is clearly positive, -1
clearly negative, 0 neutral or empty. One range for every implementation keeps rewards
comparable when the scorer changes, and makes "target negative" a sign flip.

- :class:`VaderScorer` (default): VADER's compound score. Rule-based, ships its lexicon,
  needs no network and scores thousands of sentences per second on a CPU.
- :class:`ClassifierScorer`: any local Hugging Face text-classification model folder (for
  example a distilbert fine-tuned on IMDB, as in TRL's sentiment example): ``P(positive) -
  P(negative)``.
- A reward model trained by textgym plugs in the same way: subclass :class:`Scorer`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from textgym.tools.local_classifier import LocalClassifier
from textgym.tools.scoring import ScoringTool, TextScorer

__all__ = [
    "Scorer",
    "VaderScorer",
    "ClassifierScorer",
    "make_scorer",
    "SentimentTool",
]


class Scorer(TextScorer):
    """Texts in, scores in ``[-1, 1]`` out (+1 positive, -1 negative, 0 neutral/empty)."""


class VaderScorer(Scorer):
    """VADER's compound score (Hutto and Gilbert, 2014), already in ``[-1, 1]``."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def score(self, texts: Sequence[str]) -> list[float]:
        return [float(self._analyzer.polarity_scores(text)["compound"]) for text in texts]


class ClassifierScorer(Scorer):
    """A local sequence-classification model: ``P(positive) - P(negative)``.

    Args:
        path: a local model folder (config, weights, tokenizer). Never downloads.
        positive_label: the label name meaning positive; default: the label whose name
            contains "pos", else index 1 (the IMDB convention, LABEL_1 = positive).
        negative_label: likewise; default: the label containing "neg", else index 0.
        batch_size: texts per forward pass.
        max_length: tokens per text (longer texts are cut).
    """

    name = "classifier"

    def __init__(
        self,
        path: str | os.PathLike[str],
        positive_label: str | None = None,
        negative_label: str | None = None,
        batch_size: int = 32,
        max_length: int = 256,
    ):
        self.classifier = LocalClassifier(path, batch_size, max_length)
        self.positive_index = self.classifier.label_index(positive_label, ("pos",), 1)
        self.negative_index = self.classifier.label_index(negative_label, ("neg",), 0)
        if self.positive_index == self.negative_index:
            raise ValueError(
                f"{self.classifier.folder}: positive and negative labels are the same "
                f"({self.classifier.labels})"
            )

    def score(self, texts: Sequence[str]) -> list[float]:
        rows = self.classifier.probabilities(texts)
        return [
            0.0 if not text.strip() else row[self.positive_index] - row[self.negative_index]
            for text, row in zip(texts, rows)
        ]


def make_scorer(spec: str | os.PathLike[str] | Scorer | None = None) -> Scorer:
    """``None`` or ``"vader"``: VADER; a local folder path: :class:`ClassifierScorer`; a
    :class:`Scorer`: itself."""
    if isinstance(spec, Scorer):
        return spec
    if spec is None or spec == "vader":
        return VaderScorer()
    if isinstance(spec, (str, os.PathLike)):
        return ClassifierScorer(spec)
    raise TypeError(f"scorer must be 'vader', a local model path or a Scorer, got {spec!r}")


class SentimentTool(ScoringTool):
    """``<request><Sentiment>draft<call>`` → the draft's score, for example ``+0.84``."""

    name = "Sentiment"
    description = "scores a text's sentiment from -1 (negative) to +1 (positive)"

    def __init__(self, scorer: Scorer | None = None, max_query_chars: int = 2000):
        super().__init__(scorer if scorer is not None else VaderScorer(), max_query_chars)

    def format(self, score: float) -> str:
        return f"{score:+.2f}"
