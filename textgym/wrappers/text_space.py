"""A ``Text`` space that holds any string up to a length."""

from __future__ import annotations

import string
from typing import Any

from gymnasium import spaces


class AnyText(spaces.Text):
    """Any ``str`` of at most ``max_length`` characters.

    Gymnasium's ``Text`` only holds strings over a fixed charset, but a decoded context can
    hold any Unicode (ByT5 decodes arbitrary bytes). ``sample()`` still draws from
    ``charset`` (printable ASCII by default) so that random agents type readable text.
    """

    def __init__(
        self, max_length: int, *, min_length: int = 0, charset: str | None = None, seed: Any = None
    ):
        super().__init__(
            max_length,
            min_length=min_length,
            charset=charset if charset is not None else string.printable,
            seed=seed,
        )

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText({self.min_length}, {self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, AnyText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )
