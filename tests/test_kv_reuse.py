"""KV-cache reuse across tool turns: a turn that feeds only its new tokens samples from the
same distribution as one that re-encodes the whole history."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from textgym import make_tokenizer
from textgym.agents import ValueHeadLM, tiny_gpt2_config
from textgym.agents.generation import sample_turns
from textgym.agents.kv_reuse import RowCache, reusable_prefix
from textgym.agents.rollouts import collect_episodes

TOK = make_tokenizer()
STOPS = (TOK.convert_tokens_to_ids("<call>"), TOK.convert_tokens_to_ids("<submit>"), 1)


def policy(seed=0):
    cfg = tiny_gpt2_config(len(TOK), n_layer=2, n_embd=32, n_head=2, n_positions=512)
    return ValueHeadLM.from_config(cfg, seed=seed)


def _turn(model, contexts, caches, seed, logps=None):
    return sample_turns(
        model,
        contexts,
        stop_token_ids=STOPS,
        max_new_tokens=16,
        pad_id=0,
        generator=torch.Generator().manual_seed(seed),
        row_caches=caches,
        logprobs_out=logps,
    )


def test_second_turn_log_probs_match_a_fresh_encoding():
    """Two turns with a 'tool response' between them, rows of different lengths (some rows
    stop early, some run to the limit): the cached second turn scores its tokens as the
    full-history forward pass does."""
    model = policy(seed=3)
    rng = np.random.default_rng(0)
    contexts = [rng.integers(3, 250, size=n) for n in (5, 17, 9, 30)]
    caches: list[RowCache | None] = [None] * len(contexts)
    first = _turn(model, contexts, caches, seed=0)
    assert all(c is not None for c in caches)
    for cache, context, turn in zip(caches, contexts, first):
        # Everything fed: the context and all but the last sampled token.
        assert np.array_equal(cache.ids, np.concatenate([context, turn[:-1]]))
    responses = [rng.integers(3, 250, size=n) for n in (4, 1, 12, 7)]
    second_contexts = [np.concatenate([c, t, r]) for c, t, r in zip(contexts, first, responses)]
    assert all(reusable_prefix(c, ctx) > 0 for c, ctx in zip(caches, second_contexts))
    logps: list[list[float]] = []
    second = _turn(model, second_contexts, caches, seed=1, logps=logps)
    for context, turn, lp in zip(second_contexts, second, logps):
        full = torch.as_tensor(np.concatenate([context, turn]))[None]
        expected, _, _ = model.score_tokens(full, torch.ones_like(full))
        assert torch.allclose(expected[0, len(context) :], torch.tensor(lp), atol=1e-4)


def test_reuse_gives_the_same_greedy_episodes_as_re_encoding():
    model = policy(seed=5)
    vec = gym.make_vec("TextEnv-Calculator-v0", num_envs=4)
    runs = []
    for reuse in (False, True):
        runs.append(
            collect_episodes(
                vec,
                model,
                8,
                seed=2,
                generator=torch.Generator().manual_seed(0),
                max_new_tokens=24,
                temperature=0.0,
                reuse_kv_cache=reuse,
            )
        )
    vec.close()
    for a, b in zip(*runs):
        assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.agent_mask, b.agent_mask)


def test_a_cache_that_does_not_match_the_context_is_not_used():
    model = policy()
    context = np.arange(3, 20)
    caches: list[RowCache | None] = [None]
    _turn(model, [context], caches, seed=0)
    cache = caches[0]
    assert reusable_prefix(cache, np.concatenate([cache.ids, [5]])) == len(cache)
    changed = np.concatenate([cache.ids, [5]])
    changed[0] += 1  # the env cut or rewrote the context: start over
    assert reusable_prefix(cache, changed) == 0
    assert reusable_prefix(cache, cache.ids) == 0  # nothing new to feed
    assert reusable_prefix(None, context) == 0
