"""Batched sampling with a KV cache that stops each row at its own stop token.

Two pitfalls of TRL's classic loop are fixed here: a batch ran until *every* row had
stopped while the stop check decoded the whole batch as text at each token; and positions
of left-padded rows differed between generation and the PPO forward pass. Here stopping is
a tensor test on ids, finished rows drop out of the batch, and positions are derived from
the attention mask, exactly as the training forward pass computes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from textgym.agents.kv_reuse import (
    RowCache,
    extract_row_cache,
    reusable_prefix,
    stack_row_caches,
)
from textgym.agents.value_head import ValueHeadLM

__all__ = ["left_pad", "sample_turns"]


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


def _reorder_cache(cache, keep: torch.Tensor):
    """Keep only the rows ``keep`` of a KV cache (transformers ``Cache`` or legacy tuple)."""
    if hasattr(cache, "batch_select_indices"):
        cache.batch_select_indices(keep)
        return cache
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(keep)
        return cache
    return tuple(tuple(t.index_select(0, keep) for t in layer) for layer in cache)


@torch.no_grad()
def sample_turns(
    model: ValueHeadLM,
    contexts: Sequence[np.ndarray],
    *,
    stop_token_ids: Sequence[int],
    max_new_tokens: int,
    pad_id: int,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    max_positions: int | None = None,
    logprobs_out: list[list[float]] | None = None,
    row_caches: list[RowCache | None] | None = None,
) -> list[np.ndarray]:
    """Sample one turn per context, each ending at its first stop token or at
    ``max_new_tokens``. Samples from the plain softmax (temperature 1 by default, no top-k),
    the same distribution the PPO loss scores.

    ``temperature=0`` decodes greedily (for evaluation).

    Returns the new tokens of each row (stop token included when reached). If
    ``logprobs_out`` is a list, it receives each row's per-token log-probabilities under
    the sampling distribution (used to check that training scores tokens identically).

    ``row_caches`` (one entry per context, updated in place) turns on KV-cache reuse across
    turns (:mod:`textgym.agents.kv_reuse`): a row whose context extends its cached tokens
    feeds only the new ones, and leaves with the cache of everything it fed.
    """
    if not contexts:
        return []
    was_training = model.training
    model.eval()
    try:
        contexts = [np.asarray(c) for c in contexts]
        n = len(contexts)
        limit = max_new_tokens
        if max_positions is not None:
            # Never run past the model's position table.
            limit = max(0, min(limit, max_positions - max(len(c) for c in contexts)))
        out: list[list[int]] = [[] for _ in range(n)]
        logps: list[list[float]] = [[] for _ in range(n)]
        if limit == 0:
            if logprobs_out is not None:
                logprobs_out.extend([] for _ in range(n))
            if row_caches is not None:
                row_caches[:] = [None] * n
            return [np.zeros(0, dtype=np.int64) for _ in range(n)]
        stops = torch.as_tensor(list(stop_token_ids), dtype=torch.long)
        rows = torch.arange(n)  # original row of each live batch entry
        reuse = [0] * n
        if row_caches is not None:
            reuse = [reusable_prefix(c, ctx) for c, ctx in zip(row_caches, contexts)]
        if any(reuse):
            from transformers import DynamicCache

            new_ids, new_mask, _ = left_pad([c[k:] for c, k in zip(contexts, reuse)], pad_id)
            cache, past_mask = stack_row_caches(row_caches, reuse, DynamicCache())
            mask = torch.cat([past_mask, new_mask], dim=1)
            positions = ((mask.cumsum(-1) - 1).clamp(min=0))[:, past_mask.shape[1] :]
            logits, _, cache = model(
                new_ids,
                attention_mask=mask,
                position_ids=positions,
                past_key_values=cache,
                use_cache=True,
            )
        else:
            ids, mask, positions = left_pad(contexts, pad_id)
            logits, _, cache = model(
                ids, attention_mask=mask, position_ids=positions, use_cache=True
            )
        next_logits = logits[:, -1]
        next_pos = positions[:, -1] + 1

        def keep_cache(batch_rows: torch.Tensor) -> None:
            """Save the caches of these batch entries before they leave the batch: every
            token fed so far, which is the context and all but the last sampled token."""
            if row_caches is None:
                return
            for b in batch_rows.tolist():
                r = int(rows[b])
                fed = np.concatenate([contexts[r], np.asarray(out[r][:-1], dtype=np.int64)])
                row_caches[r] = extract_row_cache(cache, b, mask[b], fed)

        for step in range(limit):
            if temperature == 0:
                tokens = next_logits.argmax(-1)
            else:
                probs = torch.softmax(next_logits.float() / temperature, dim=-1)
                tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            for row, tok in zip(rows.tolist(), tokens.tolist()):
                out[row].append(tok)
            if logprobs_out is not None:
                step_logp = (
                    torch.log_softmax(next_logits.float(), -1)
                    .gather(-1, tokens[:, None])
                    .squeeze(-1)
                )
                for row, lp in zip(rows.tolist(), step_logp.tolist()):
                    logps[row].append(lp)
            live = ~torch.isin(tokens, stops)
            if not live.any() or step == limit - 1:
                keep_cache(torch.arange(len(rows)))
                break
            if not live.all():
                keep_cache((~live).nonzero().squeeze(-1))
                keep = live.nonzero().squeeze(-1)
                rows, tokens, next_pos, mask = rows[keep], tokens[keep], next_pos[keep], mask[keep]
                cache = _reorder_cache(cache, keep)
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype)], dim=1)
            logits, _, cache = model(
                tokens[:, None],
                attention_mask=mask,
                position_ids=next_pos[:, None],
                past_key_values=cache,
                use_cache=True,
            )
            next_logits = logits[:, -1]
            next_pos = next_pos + 1
        if logprobs_out is not None:
            logprobs_out.extend(logps)
        return [np.asarray(turn, dtype=np.int64) for turn in out]
    finally:
        model.train(was_training)
