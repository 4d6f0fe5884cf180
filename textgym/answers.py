"""The one reader of final answers, shared by every task.

A final turn's text (what the agent wrote before ``<submit>`` or EOS) is read the same way
in every env before the task compares it with the item's answer: surrounding whitespace
and one optional ``Result=`` / ``Answer:`` prefix (any case, ``=`` or ``:``) come off.
Each task's ``score`` then compares values (numbers, integers, normalised titles, a
review's sentiment) and never parses the prefix itself, so ``Answer: 5`` means the same to
the calculator as to the Python task.
"""

from __future__ import annotations

import re

__all__ = ["read_answer"]

_PREFIX = re.compile(r"\A(?:result|answer)\s*[=:]", re.IGNORECASE)


def read_answer(text: str | None) -> str | None:
    """The answer in a final turn's text: stripped, without a ``Result=``/``Answer:``
    prefix; ``None`` stays ``None`` (no final answer)."""
    if text is None:
        return None
    text = text.strip()
    return _PREFIX.sub("", text, count=1).strip()
