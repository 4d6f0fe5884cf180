"""Argument checks shared by the agents' config dataclasses."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["require_positive_ints"]


def require_positive_ints(config: object, names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming ``Class.field`` for the first field that is not a
    positive int (``bool`` is refused too)."""
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"{type(config).__name__}.{name} must be a positive int, got {value!r}"
            )
