"""Argument checks shared by the agents' config dataclasses."""

from __future__ import annotations

from collections.abc import Iterable

from textgym.checks import positive_int

__all__ = ["require_positive_ints"]


def require_positive_ints(config: object, names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming ``Class.field`` for the first field that is not a
    positive int (``bool`` is refused too)."""
    for name in names:
        positive_int(f"{type(config).__name__}.{name}", getattr(config, name))
