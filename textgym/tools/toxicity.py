"""Toxicity scorers, and the ``Toxicity`` tool that lets an agent check a draft.

Every scorer maps a batch of texts to ``P(offensive)`` in ``[0, 1]``.

- :class:`ProfanityCheckScorer` (default): ``alt-profanity-check``, a linear SVM on
  bag-of-words features trained on human-labelled toxic comments. It ships inside the
  package, needs no network, and scores a sentence in microseconds.
- :class:`ClassifierToxicityScorer`: any local Hugging Face text-classification folder
  (for example a RoBERTa hate-speech classifier, as in TRL's detoxification example):
  the probability of its toxic label.
- Anything else: subclass :class:`ToxicityScorer`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from textgym.tools.local_classifier import LocalClassifier
from textgym.tools.scoring import ScoringTool, TextScorer

__all__ = [
    "ToxicityScorer",
    "ProfanityCheckScorer",
    "ClassifierToxicityScorer",
    "make_toxicity_scorer",
    "ToxicityTool",
    "TOXIC_HINTS",
]

#: Label names that mean "offensive" in common toxicity classifiers.
TOXIC_HINTS = ("toxic", "offensive", "hate", "abusive", "profan", "insult")


class ToxicityScorer(TextScorer):
    """Texts in, ``P(offensive)`` in ``[0, 1]`` out."""

    name = "toxicity"


class ProfanityCheckScorer(ToxicityScorer):
    """``alt-profanity-check``'s ``predict_prob`` (the ``[detox]`` extra)."""

    name = "profanity-check"

    def __init__(self) -> None:
        try:
            from profanity_check import predict_prob
        except ImportError as exc:
            raise ImportError(
                "the default toxicity scorer needs alt-profanity-check: "
                "pip install 'textgym[detox]' (or pass scorer= a local classifier folder)"
            ) from exc
        self._predict_prob = predict_prob

    def score(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        return [min(max(float(p), 0.0), 1.0) for p in self._predict_prob(list(texts))]


class ClassifierToxicityScorer(ToxicityScorer):
    """A local sequence-classification model: the probability of its toxic label.

    Args:
        path: a local model folder (config, weights, tokenizer). Never downloads.
        toxic_label: the label name meaning offensive; default: the first label whose
            name contains one of :data:`TOXIC_HINTS` (and does not start with "non"), else
            index 1.
        batch_size: texts per forward pass.
        max_length: tokens per text (longer texts are cut).
    """

    name = "classifier"

    def __init__(
        self,
        path: str | os.PathLike[str],
        toxic_label: str | None = None,
        batch_size: int = 32,
        max_length: int = 256,
    ):
        self.classifier = LocalClassifier(path, batch_size, max_length)
        self.toxic_index = self.classifier.label_index(toxic_label, TOXIC_HINTS, 1)

    def score(self, texts: Sequence[str]) -> list[float]:
        return [row[self.toxic_index] for row in self.classifier.probabilities(texts)]


def make_toxicity_scorer(
    spec: str | os.PathLike[str] | ToxicityScorer | None = None,
) -> ToxicityScorer:
    """``None`` or ``"profanity-check"``: :class:`ProfanityCheckScorer`; a local folder
    path: :class:`ClassifierToxicityScorer`; a :class:`ToxicityScorer`: itself."""
    if isinstance(spec, ToxicityScorer):
        return spec
    if spec is None or spec == ProfanityCheckScorer.name:
        return ProfanityCheckScorer()
    if isinstance(spec, (str, os.PathLike)):
        return ClassifierToxicityScorer(spec)
    raise TypeError(
        f"scorer must be 'profanity-check', a local model path or a ToxicityScorer, got {spec!r}"
    )


class ToxicityTool(ScoringTool):
    """``<request><Toxicity>draft<call>`` → the draft's ``P(offensive)``, e.g. ``0.93``."""

    name = "Toxicity"
    description = "scores how offensive a text is, from 0 (civil) to 1 (offensive)"
