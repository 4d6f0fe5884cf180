"""Token in, token out: every observation extends the previous one exactly, in both
tool-call formats, for every registered single-agent env, and ``agent_mask`` is True on
exactly the tokens the agent wrote.

A policy's log-probs are computed on the context it generated from; if an env re-rendered
or re-tokenized earlier turns, the trained context would differ from the sampled one. The
episodes here are oracle play (real tool calls, the full episode) and garbage (random ids,
out-of-vocabulary ids, stop tokens, fragments of calls in either format).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from local_models import bpe_tokenizer

from textgym.registration import env_ids
from textgym.transcript import coerce_token_ids

FORMATS = ("markers", "chat")
FRAGMENTS = (
    "<request><Calculator>1+1<call>",
    "<request><Wiki>founded<call>",
    "Result=3<submit>",
    '<tool_call>{"name": "Calculator", "arguments": {"expression": "6*7"}}</tool_call>',
    '<tool_call>{"name": "Python", "arguments": {"code": "print(1)"}}</tool_call>',
    '<tool_call>{"name": "Wiki", "arguments": {"query": "city"}}</tool_call>',
    '<tool_call>{"name": ',
    "</tool_call>",
    "<|im_end|>",
    "<|im_start|>tool\n",
    "plain words",
)


def _expected_turn(base, action) -> np.ndarray:
    """The ids the env must keep of ``action``: coerced into the vocabulary, cut at
    ``max_turn_tokens`` and at the first stop token (the turn engine's own steps)."""
    tok = base.tokenizer
    pad = int(tok.pad_token_id or 0)
    unk = tok.unk_token_id if tok.unk_token_id is not None else pad
    ids, _ = coerce_token_ids(action, len(tok), int(unk))
    return base.call_format.parse(ids[: base.max_turn_tokens]).ids


def _play(env, actions_for, seed: int) -> list[dict]:
    """One episode; checks prefix preservation and the mask at every step; returns the
    step infos."""
    base = env.unwrapped
    obs, info = env.reset(seed=seed)
    mask = np.zeros(len(obs), dtype=bool)
    assert not info["agent_mask"].any()
    infos, done = [], False
    while not done:
        action = actions_for(base)
        kept = _expected_turn(base, action)
        new_obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        assert len(new_obs) >= len(obs)
        assert np.array_equal(new_obs[: len(obs)], obs), "an earlier token changed"
        fits = min(len(kept), len(new_obs) - len(obs))
        assert np.array_equal(new_obs[len(obs) : len(obs) + fits], kept[:fits])
        step_mask = np.zeros(len(new_obs) - len(obs), dtype=bool)
        step_mask[:fits] = True
        mask = np.concatenate([mask, step_mask])
        assert np.array_equal(info["agent_mask"][: len(new_obs)], mask)
        assert not info["agent_mask"][len(new_obs) :].any()
        obs = new_obs
        infos.append(info)
    return infos


def _garbage(rng: np.random.Generator):
    def act(base) -> np.ndarray:
        vocab = len(base.tokenizer)
        parts = []
        for _ in range(int(rng.integers(0, 5))):
            pick = int(rng.integers(0, 4))
            if pick == 0:
                parts.append(rng.integers(0, vocab, size=int(rng.integers(0, 12))))
            elif pick == 1:
                parts.append(rng.integers(-5, vocab + 5, size=int(rng.integers(1, 4))))
            elif pick == 2:
                parts.append(base.encode_turn(FRAGMENTS[int(rng.integers(len(FRAGMENTS)))]))
            else:
                parts.append(np.asarray(base.stop_token_ids[:1], dtype=np.int64))
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    return act


@pytest.mark.parametrize("tool_format", FORMATS)
@pytest.mark.parametrize("env_id", env_ids())
def test_observations_extend_each_other(env_id, tool_format):
    env = gym.make(env_id, tool_format=tool_format)
    try:
        for seed in (0, 1):
            infos = _play(env, lambda base: base.oracle_action(), seed)
            assert infos[-1]["success"], (env_id, tool_format, infos[-1])
            assert all(call["valid"] for call in infos[-1]["tool_calls"])
        for seed in (0, 1, 2):
            _play(env, _garbage(np.random.default_rng(seed)), seed)
    finally:
        env.close()


@pytest.mark.parametrize("tool_format", FORMATS)
def test_prefix_preserved_with_a_bpe_tokenizer(tool_format):
    env = gym.make(
        "TextEnv-Calculator-v0",
        tool_format=tool_format,
        tokenizer=bpe_tokenizer(),
        max_context=2048,
    )
    try:
        for seed in (0, 1):
            assert _play(env, lambda base: base.oracle_action(), seed)[-1]["success"]
            _play(env, _garbage(np.random.default_rng(seed)), seed)
    finally:
        env.close()
