"""KV-cache reuse: across tool turns, and for a prefix every row of a batch shares.

Between two turns of an episode the context only grows: the agent's turn, then the tool's
response. TRL's ``TextEnvironment`` re-encoded the whole history every turn; here each row
keeps the keys and values of every token it has already fed through the model
(:class:`RowCache`), and the next turn feeds only the new tokens (the last sampled token,
which was never fed, and the tool response).

Rows of one batch have caches of different lengths and suffixes of different lengths. They
are laid out as ``[pad | cached | pad | new]`` with the attention mask zero on both pads and
positions counted from the mask, so each row sees exactly its own tokens at positions
``0..L-1``, as a fresh left-padded prefill would give them.

Shared prefix: the episodes of a batch open with the same tokens (the system prompt; in a
group of episodes of one item, the whole prompt). In a causal LM the keys, values and
hidden states of a prefix do not depend on what follows it, so the prefix runs once, as a
batch of one, and :func:`broadcast_cache` hands its keys and values to every row. That is
exact, not an approximation, and gradients flow back through the broadcast (``expand``
sums them). :func:`shared_prefix_length` finds the prefix from the token ids alone (the
longest common prefix), never from env internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache

from textgym.agents.padding import CALL_COST_TOKENS

__all__ = [
    "RowCache",
    "reusable_prefix",
    "stack_row_caches",
    "extract_row_cache",
    "shared_prefix_length",
    "broadcast_cache",
]


@dataclass
class RowCache:
    """Keys and values of the tokens ``ids`` of one row: per layer ``(k, v)``, each
    ``[kv_heads, len(ids), head_dim]`` (with grouped-query attention, as Llama's and
    Qwen2's, the cache holds the key/value heads, fewer than the query heads; nothing
    here assumes they are equal)."""

    ids: np.ndarray
    layers: list[tuple[torch.Tensor, torch.Tensor]]

    def __len__(self) -> int:
        return len(self.ids)


def reusable_prefix(cache: RowCache | None, context: np.ndarray) -> int:
    """How many leading tokens of ``context`` the cache covers (0 when it does not match,
    for example after the env cut the context). At least one token is always left to feed:
    the model needs an input to produce the next logits."""
    if cache is None or len(cache) == 0 or len(cache) >= len(context):
        return 0
    if not np.array_equal(cache.ids, context[: len(cache)]):
        return 0
    return len(cache)


def _layer_kv(cache, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(cache, "layers"):  # transformers >= 4.56
        layer = cache.layers[index]
        return layer.keys, layer.values
    if hasattr(cache, "key_cache"):
        return cache.key_cache[index], cache.value_cache[index]
    return cache[index]  # legacy tuple


def _num_layers(cache) -> int:
    if hasattr(cache, "layers"):
        return len(cache.layers)
    if hasattr(cache, "key_cache"):
        return len(cache.key_cache)
    return len(cache)


def stack_row_caches(
    caches: Sequence[RowCache | None], lengths: Sequence[int], template
) -> tuple[object, torch.Tensor]:
    """A batch cache of the first ``lengths[r]`` tokens of each row's cache, left-padded,
    and its attention mask ``[n, max(lengths)]``. ``template`` is a cache class instance
    to fill (``DynamicCache()``)."""
    width = max(lengths)
    n = len(caches)
    some = next(c for c, length in zip(caches, lengths) if length)
    # The mask goes where the cached keys are (the model's device).
    device = some.layers[0][0].device
    mask = torch.zeros((n, width), dtype=torch.long, device=device)
    for r, length in enumerate(lengths):
        mask[r, width - length :] = 1 if length else 0
    for layer_index, (k0, v0) in enumerate(some.layers):
        keys = k0.new_zeros((n, k0.shape[0], width, k0.shape[2]))
        values = v0.new_zeros((n, v0.shape[0], width, v0.shape[2]))
        for r, (cache, length) in enumerate(zip(caches, lengths)):
            if length:
                k, v = cache.layers[layer_index]
                keys[r, :, width - length :] = k[:, :length]
                values[r, :, width - length :] = v[:, :length]
        template.update(keys, values, layer_index)
    return template, mask


def extract_row_cache(cache, row: int, mask_row: torch.Tensor, ids: np.ndarray) -> RowCache:
    """Row ``row`` of a batch cache, keeping the columns where ``mask_row`` is 1 (its real
    tokens, in order), as the cache of ``ids``."""
    cols = mask_row.nonzero().squeeze(-1)
    layers = []
    for index in range(_num_layers(cache)):
        k, v = _layer_kv(cache, index)
        layers.append((k[row].index_select(1, cols).clone(), v[row].index_select(1, cols).clone()))
    if len(cols) != len(ids):
        raise AssertionError(f"cache holds {len(cols)} tokens for {len(ids)} ids")
    return RowCache(np.asarray(ids, dtype=np.int64), layers)


def shared_prefix_length(
    ids: torch.Tensor, attention: torch.Tensor, *, min_saving: int = CALL_COST_TOKENS
) -> int:
    """How many leading tokens every row of ``ids`` ``[n, L]`` shares and can compute
    once: the same ids, real tokens in every row (``attention`` 1), and at least one token
    of each row left after it (a row's first own score comes from the logits at the end
    of the prefix). 0 when sharing saves fewer than ``min_saving`` token positions
    (``(n - 1) * length``; one more forward call costs about that), for a batch of one,
    and for rows that share nothing: the caller then runs the plain batch."""
    n, width = ids.shape
    if n < 2 or width == 0:
        return 0
    same = (ids == ids[:1]).all(0) & attention.bool().all(0)
    breaks = (~same).nonzero()
    common = int(breaks[0]) if len(breaks) else width
    common = max(0, min(common, int(attention.sum(1).min()) - 1))
    return common if common * (n - 1) >= min_saving else 0


def broadcast_cache(cache, n: int) -> DynamicCache:
    """A batch cache of ``n`` rows that all hold the one row of ``cache``. The rows are
    views (``expand``) until a forward pass appends to them."""
    out = DynamicCache()
    for index in range(_num_layers(cache)):
        k, v = _layer_kv(cache, index)
        out.update(k.expand(n, *k.shape[1:]), v.expand(n, *v.shape[1:]), index)
    return out
