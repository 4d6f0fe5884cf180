"""The sizes of the policies textgym builds from a config (no hub), by name.

``tiny`` is the default: on the calculator's levels it reaches a given success in less
wall-clock time on a 2-core CPU than ``small`` (benchmarks/calculator_levels.py).
"""

from __future__ import annotations

__all__ = ["MODEL_SIZES"]

#: Depth (``layers``, for T5 each of encoder and decoder), width and attention heads.
MODEL_SIZES: dict[str, dict[str, int]] = {
    "tiny": {"layers": 2, "width": 128, "heads": 4},
    # tiny's width at small's depth: for copying long digit strings (calculator level 1),
    # where tiny transposes repeated digits, at about twice tiny's cost, not small's 6x.
    "deep": {"layers": 4, "width": 128, "heads": 4},
    "small": {"layers": 4, "width": 256, "heads": 4},
}
