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
from transformers import DynamicCache

from textgym.agents.kv_reuse import (
    RowCache,
    broadcast_cache,
    extract_row_cache,
    reusable_prefix,
    shared_prefix_length,
    stack_row_caches,
)
from textgym.agents.padding import left_pad
from textgym.agents.seq2seq_value_head import Seq2SeqDecoding
from textgym.agents.value_head import ValueHeadLM

__all__ = ["left_pad", "sample_turns"]


def _reorder_cache(cache, keep: torch.Tensor):
    """Keep only the rows ``keep`` of a KV cache (transformers ``Cache`` or legacy tuple)."""
    if hasattr(cache, "batch_select_indices"):
        cache.batch_select_indices(keep)
        return cache
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(keep)
        return cache
    return tuple(tuple(t.index_select(0, keep) for t in layer) for layer in cache)


class _CausalDecoding:
    """Incremental decoding state of a causal LM: the batch's KV cache, attention mask and
    next positions.

    The first forward pass feeds each row only what no cache holds yet: with per-row
    caches from the last turn (``row_caches``), the tokens added since; otherwise, with
    ``share_prefix``, rows with the same context (the episodes of one item) prefill it
    once, and the rows' common prefix runs once as a batch of one and its cache is
    broadcast to every row (:mod:`textgym.agents.kv_reuse`), then each row feeds the rest.
    """

    def __init__(self, model, contexts, pad_id, row_caches, share_prefix=True):
        self.model, self.contexts, self.row_caches = model, contexts, row_caches
        n = len(contexts)
        device = self.device = model.device
        reuse = [0] * n
        if row_caches is not None:
            reuse = [reusable_prefix(c, ctx) for c, ctx in zip(row_caches, contexts)]
        cache, past_mask = None, torch.zeros((n, 0), dtype=torch.long, device=device)
        if any(reuse):
            cache, past_mask = stack_row_caches(row_caches, reuse, DynamicCache())
        elif share_prefix and n > 1 and self._prefill_distinct(contexts, pad_id):
            return
        elif share_prefix and n > 1:
            shortest = min(len(c) for c in contexts)
            heads = torch.as_tensor(np.stack([c[:shortest] for c in contexts]), device=device)
            shared = shared_prefix_length(heads, torch.ones_like(heads))
            if shared:
                prefix = heads[:1, :shared]
                _, _, head_cache = model(
                    prefix,
                    attention_mask=torch.ones_like(prefix),
                    position_ids=torch.arange(shared, device=device)[None],
                    use_cache=True,
                )
                cache, past_mask = (
                    broadcast_cache(head_cache, n),
                    torch.ones_like(heads[:, :shared]),
                )
                reuse = [shared] * n
        # [pad | cached | pad | new], positions counted from the mask: each row sees its
        # own tokens at 0..L-1, as one left-padded prefill would give them.
        new_ids, new_mask, _ = left_pad(
            [c[k:] for c, k in zip(contexts, reuse)], pad_id, device=device
        )
        self.mask = torch.cat([past_mask, new_mask], dim=1)
        positions = ((self.mask.cumsum(-1) - 1).clamp(min=0))[:, past_mask.shape[1] :]
        logits, _, self.cache = model(
            new_ids,
            attention_mask=self.mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )
        self.next_logits = logits[:, -1]
        self.next_pos = positions[:, -1] + 1

    def _prefill_distinct(self, contexts, pad_id) -> bool:
        """Rows with the same context (a group of episodes of one item, on its first turn)
        share its whole prefill: each distinct context runs once, its cache rows are copied
        to its duplicates. False, with nothing done, when every context is distinct."""
        first_row: dict[bytes, int] = {}
        where = [first_row.setdefault(c.tobytes(), len(first_row)) for c in contexts]
        if len(first_row) == len(contexts):
            return False
        distinct = [contexts[where.index(k)] for k in range(len(first_row))]
        inner = _CausalDecoding(self.model, distinct, pad_id, None, share_prefix=True)
        rows = torch.as_tensor(where, device=self.device)
        inner.select(rows)
        self.mask, self.cache, self.next_pos = inner.mask, inner.cache, inner.next_pos
        self.next_logits = inner.next_logits[rows]
        return True

    def select(self, keep: torch.Tensor) -> None:
        self.next_pos, self.mask = self.next_pos[keep], self.mask[keep]
        self.cache = _reorder_cache(self.cache, keep)

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        ones = torch.ones((len(tokens), 1), dtype=self.mask.dtype, device=self.mask.device)
        self.mask = torch.cat([self.mask, ones], 1)
        logits, _, self.cache = self.model(
            tokens[:, None],
            attention_mask=self.mask,
            position_ids=self.next_pos[:, None],
            past_key_values=self.cache,
            use_cache=True,
        )
        self.next_pos = self.next_pos + 1
        return logits[:, -1]

    def leave(self, batch_rows: torch.Tensor, rows: torch.Tensor, out: list[list[int]]) -> None:
        """Save the caches of these batch entries before they leave the batch: every token
        fed so far, which is the context and all but the last sampled token."""
        if self.row_caches is None:
            return
        for b in batch_rows.tolist():
            r = int(rows[b])
            fed = np.concatenate([self.contexts[r], np.asarray(out[r][:-1], dtype=np.int64)])
            self.row_caches[r] = extract_row_cache(self.cache, b, self.mask[b], fed)


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
    prompt_lengths: Sequence[int] | None = None,
    share_prefix: bool = True,
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
    feeds only the new ones, and leaves with the cache of everything it fed. Causal LMs
    only; an encoder-decoder policy ignores it.

    ``prompt_lengths`` (one per context) is where each episode's prompt ends: an
    encoder-decoder policy encodes the prompt and decodes from there. Required for one.

    ``share_prefix`` computes the contexts' common prefix once and broadcasts its keys and
    values to every row (causal LMs; exact: the same tokens as without it).
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
        if row_caches is not None and (limit == 0 or model.is_encoder_decoder):
            row_caches[:] = [None] * n
            row_caches = None
        if limit == 0:
            if logprobs_out is not None:
                logprobs_out.extend([] for _ in range(n))
            return [np.zeros(0, dtype=np.int64) for _ in range(n)]
        device = model.device
        if generator is not None and generator.device != device:
            raise ValueError(
                f"the sampling generator is on {generator.device} but the model on {device}: "
                "make it with torch.Generator(device=model.device)"
            )
        stops = torch.as_tensor(list(stop_token_ids), dtype=torch.long, device=device)
        rows = torch.arange(n, device=device)  # original row of each live batch entry
        if model.is_encoder_decoder:
            if prompt_lengths is None or len(prompt_lengths) != n:
                raise ValueError("an encoder-decoder policy needs one prompt length per context")
            state = Seq2SeqDecoding(model, contexts, prompt_lengths, pad_id)
        else:
            state = _CausalDecoding(model, contexts, pad_id, row_caches, share_prefix)
        next_logits = state.next_logits

        for step in range(limit):
            if temperature == 0:
                tokens = next_logits.argmax(-1)
            else:
                probs = torch.softmax(next_logits.float() / temperature, dim=-1)
                tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            for row, tok in zip(rows.tolist(), tokens.tolist()):
                out[row].append(tok)
            if logprobs_out is not None:
                # The distribution the token was drawn from: tempered, except greedy.
                scaled = next_logits.float() / (temperature if temperature > 0 else 1.0)
                step_logp = (
                    torch.log_softmax(scaled, -1)
                    .gather(-1, tokens[:, None])
                    .squeeze(-1)
                )
                for row, lp in zip(rows.tolist(), step_logp.tolist()):
                    logps[row].append(lp)
            live = ~torch.isin(tokens, stops)
            if not live.any() or step == limit - 1:
                state.leave(torch.arange(len(rows), device=device), rows, out)
                break
            if not live.all():
                state.leave((~live).nonzero().squeeze(-1), rows, out)
                keep = live.nonzero().squeeze(-1)
                rows, tokens = rows[keep], tokens[keep]
                state.select(keep)
            next_logits = state.feed(tokens)
        if logprobs_out is not None:
            logprobs_out.extend(logps)
        return [np.asarray(turn, dtype=np.int64) for turn in out]
    finally:
        model.train(was_training)
