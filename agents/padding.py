"""Padding token sequences into batch tensors.

Generation pads on the left, so every row's next token is in the last column; scoring
pads on the right, so every row keeps positions ``0..L-1``. Either way positions come
from the attention mask, so a row sees its tokens at the same positions in both.
:func:`length_groups` splits a batch whose lengths differ a lot into groups padded each to
its own longest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["CALL_COST_TOKENS", "left_pad", "right_pad", "length_groups"]

#: What one more forward call costs, in token positions: about 2 ms on the tiny CPU
#: GPT-2, the time of some 45 token positions, rounded up. Splitting a pass into groups
#: (:func:`length_groups`) or computing a shared prefix apart
#: (:func:`~textgym.agents.kv_reuse.shared_prefix_length`) must save more than this.
CALL_COST_TOKENS = 64


#: numpy dtypes of the torch dtypes the padders fill (rows are stacked in numpy, then
#: copied to the device in one transfer: row-by-row writes into a GPU tensor would be
#: one small copy per row).
_NUMPY = {torch.long: np.int64, torch.bool: np.bool_, torch.float32: np.float32}


def left_pad(
    sequences: Sequence[np.ndarray], pad_id: int, *, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack 1-D id arrays to the right edge; return ids, attention mask and positions,
    on ``device`` (None: torch's default; textgym's own callers always pass the model's,
    and tests/test_devices.py flags a None that reaches a tensor factory)."""
    width = max(len(s) for s in sequences)
    ids = np.full((len(sequences), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        if len(seq):
            ids[row, width - len(seq) :] = np.asarray(seq)
            mask[row, width - len(seq) :] = 1
    ids, mask = torch.as_tensor(ids, device=device), torch.as_tensor(mask, device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def right_pad(
    sequences: Sequence[np.ndarray],
    pad_value,
    *,
    device: torch.device | str | None = None,
    dtype=torch.long,
    width: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D arrays from the left edge into ``[n, width]`` (default the longest) on
    ``device`` (as in :func:`left_pad`); return the values and the attention mask (1 on
    real entries)."""
    width = max(len(s) for s in sequences) if width is None else width
    out = np.full((len(sequences), width), pad_value, dtype=_NUMPY[dtype])
    mask = np.zeros((len(sequences), width), dtype=np.int64)
    for row, seq in enumerate(sequences):
        if len(seq):
            out[row, : len(seq)] = np.asarray(seq)
            mask[row, : len(seq)] = 1
    return torch.as_tensor(out, device=device), torch.as_tensor(mask, device=device)


def length_groups(lengths: Sequence[int], fixed_cost: int) -> list[list[int]]:
    """Split rows into groups that each pad to their own longest, at the least total cost:
    a group of rows costs ``fixed_cost + len(group) * max(lengths in group)`` token
    positions (``fixed_cost``: a forward call's overhead, and a shared prefix it recomputes).
    Rows are grouped in order of length (dynamic programming over the sorted lengths);
    returns row indices, shortest group first."""
    order = sorted(range(len(lengths)), key=lambda r: lengths[r])
    sorted_lengths = [lengths[r] for r in order]
    n = len(order)
    best = [0] + [None] * n  # best[j]: least cost of the j shortest rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # rows i..j-1 form the last group; the longest is j-1
            cost = best[i] + fixed_cost + (j - i) * sorted_lengths[j - 1]
            if best[j] is None or cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]
