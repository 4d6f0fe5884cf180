"""How degenerate a piece of generated text is, so that reward hacking stays visible.

Used by the envs whose reward a policy can game by writing less or the same thing again
(Sentiment, Detox): they put these figures in the final step's ``info["degeneration"]``.
"""

from __future__ import annotations

import re

__all__ = ["degeneration_metrics"]

_WORD = re.compile(r"[a-z0-9']+")


def degeneration_metrics(text: str, window: int = 4) -> dict[str, float]:
    """How degenerate a continuation is, so that reward hacking stays visible.

    - ``distinct_1`` / ``distinct_2``: unique words / bigrams over all words / bigrams
      (Li et al., 2016); 1.0 is no repetition.
    - ``repetition_rate``: the fraction of words that repeat one of the ``window`` words
      before them; "great great great" scores 2/3.
    - ``length``: words.
    """
    words = _WORD.findall(text.lower())
    bigrams = list(zip(words, words[1:]))
    repeats = sum(word in words[max(0, i - window) : i] for i, word in enumerate(words))
    return {
        "distinct_1": len(set(words)) / len(words) if words else 0.0,
        "distinct_2": len(set(bigrams)) / len(bigrams) if bigrams else 0.0,
        "repetition_rate": repeats / len(words) if words else 0.0,
        "length": float(len(words)),
    }
