"""Padding token sequences into batch tensors.

Generation pads on the left, so every row's next token is in the last column; scoring
pads on the right, so every row keeps positions ``0..L-1``. Either way positions come
from the attention mask, so a row sees its tokens at the same positions in both.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["left_pad", "right_pad"]


def left_pad(
    sequences: Sequence[np.ndarray], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack 1-D id arrays to the right edge; return ids, attention mask and positions."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if len(seq):
            ids[row, width - len(seq) :] = torch.as_tensor(np.asarray(seq), dtype=torch.long)
            mask[row, width - len(seq) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def right_pad(
    sequences: Sequence[np.ndarray], pad_value, *, dtype=torch.long, width: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D arrays from the left edge into ``[n, width]`` (default the longest);
    return the values and the attention mask (1 on real entries)."""
    width = max(len(s) for s in sequences) if width is None else width
    out = torch.full((len(sequences), width), pad_value, dtype=dtype)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        if len(seq):
            out[row, : len(seq)] = torch.as_tensor(np.asarray(seq), dtype=dtype)
            mask[row, : len(seq)] = 1
    return out, mask
