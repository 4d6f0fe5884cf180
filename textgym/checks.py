"""Argument checks shared across textgym: one wording for one mistake."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["positive_int"]


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` when it is a positive integer (numpy integers too, ``bool``
    refused); else ``ValueError`` naming ``name``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
