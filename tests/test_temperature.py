"""PPO at a sampling temperature other than 1: every score is of softmax(logits / T), the
distribution the rollout drew from, in each of the scoring paths."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_ppo_agent import tiny_policy
from test_seq2seq import STOPS, tiny_t5

import textgym  # noqa: F401  (registers the envs)
from textgym.agents import PPO, PPOConfig
from textgym.agents.generation import sample_turns
from textgym.agents.padding import right_pad


def _sample(policy, contexts, temperature, **kwargs):
    sampled: list[list[float]] = []
    turns = sample_turns(
        policy,
        contexts,
        stop_token_ids=STOPS,
        max_new_tokens=10,
        pad_id=0,
        generator=torch.Generator().manual_seed(0),
        temperature=temperature,
        logprobs_out=sampled,
        **kwargs,
    )
    return turns, sampled


@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("split_by_length", [True, False])
def test_causal_scores_are_of_the_tempered_distribution(share_prefix, split_by_length):
    policy = tiny_policy(seed=4)
    policy.eval()
    # A shared opening (the shared-prefix path) and rows of very different lengths
    # (the split-by-length path).
    opening = np.arange(3, 20)
    contexts = [np.concatenate([opening, np.arange(30, 30 + k)]) for k in (1, 3, 90, 2)]
    turns, sampled = _sample(policy, contexts, 0.6)
    episodes = [np.concatenate([c, t]) for c, t in zip(contexts, turns)]
    ids, attention = right_pad(episodes, 0)
    with torch.no_grad():
        logp, _, entropy = policy.score_tokens(
            ids,
            attention,
            with_entropy=True,
            share_prefix=share_prefix,
            split_by_length=split_by_length,
            temperature=0.6,
        )
        plain, _, plain_entropy = policy.score_tokens(ids, attention, with_entropy=True)
    for row, (context, logps) in enumerate(zip(contexts, sampled)):
        got = logp[row, len(context) : len(context) + len(logps)]
        assert torch.allclose(got, torch.tensor(logps), atol=1e-4)
        # ...and not the plain softmax's (the test would pass if T were ignored otherwise).
        untempered = plain[row, len(context) : len(context) + len(logps)]
        assert not torch.allclose(untempered, torch.tensor(logps), atol=1e-3)
    # A cooler distribution is sharper.
    agent = attention.bool()
    assert float(entropy[agent].mean()) < float(plain_entropy[agent].mean())


def test_encoder_decoder_scores_are_of_the_tempered_distribution():
    policy = tiny_t5(seed=5)
    prompts = [np.arange(3, 3 + n) for n in (4, 9)]
    turns, sampled = _sample(policy, prompts, 1.7, prompt_lengths=[len(p) for p in prompts])
    for prompt, turn, logps in zip(prompts, turns, sampled):
        full = torch.as_tensor(np.concatenate([prompt, turn]))[None]
        logp, _, _ = policy.score_tokens(
            full, torch.ones_like(full), torch.tensor([len(prompt)]), temperature=1.7
        )
        assert torch.allclose(logp[0, len(prompt) :], torch.tensor(logps), atol=1e-4)


def test_ppo_scores_policy_and_reference_at_its_temperature(monkeypatch):
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
    ppo = PPO(
        envs,
        tiny_policy(seed=6),
        PPOConfig(
            episodes_per_iteration=2,
            mini_batch_size=2,
            ppo_epochs=1,
            max_new_tokens=8,
            temperature=0.5,
            checkpoint_every=0,
        ),
    )
    seen = []
    for model in (ppo.policy, ppo.ref):
        real = model.score_tokens

        def spy(*args, _real=real, **kwargs):
            seen.append(kwargs.get("temperature", 1.0))
            return _real(*args, **kwargs)

        monkeypatch.setattr(model, "score_tokens", spy)
    stats = ppo.step()
    # Scoring (policy and reference) and the update's minibatch.
    assert len(seen) >= 3 and set(seen) == {0.5}
    # The first minibatch scores what the rollout scored: the ratio starts at 1.
    assert stats["ppo/policy/approxkl"] < 0.05
