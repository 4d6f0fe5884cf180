"""The encoder-decoder policy: a tiny T5 from config over the ByT5 tokenizer, with a
value head, sampled and scored under the same distribution, saved and loaded, and
trained by SFT and PPO through the plain Gymnasium API."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from test_ppo_agent import magic_config  # (importing it registers ThirdParty-Magic-v0)

import textgym  # noqa: F401  (registers the envs)
from textgym import make_tokenizer, make_vec
from textgym.agents import PPO, PPOConfig, SFTConfig, ValueHeadLM, oracle_demonstrations, sft
from textgym.agents.generation import sample_turns
from textgym.agents.policy_agent import PolicyAgent
from textgym.agents.seq2seq_value_head import Seq2SeqValueHeadLM, tiny_t5_config
from textgym.agents.train import make_policy
from textgym.rollout import evaluate

TOK = make_tokenizer()
V = len(TOK)
STOPS = (TOK.convert_tokens_to_ids("<call>"), TOK.convert_tokens_to_ids("<submit>"), 1)


def tiny_t5(seed=0):
    return Seq2SeqValueHeadLM.from_config(
        tiny_t5_config(V, d_model=32, num_layers=1, num_heads=2, d_ff=64), seed=seed
    )


def test_sampling_and_scoring_agree_for_the_encoder_decoder():
    """Log-probs seen while sampling (encoder once, left-padded decoder prefixes with a
    cache, finished rows dropped) equal those score_tokens computes on each episode alone,
    which is what PPO's ratio needs."""
    policy = tiny_t5(seed=3)
    prompts = [np.arange(3, 3 + n) for n in (4, 9, 2, 0)]
    # Contexts that already hold an agent turn and a tool response after the prompt (and
    # one with an empty prompt).
    contexts = [
        np.concatenate([p, np.arange(40, 40 + k)]) for p, k in zip(prompts, (0, 5, 2, 3))
    ]
    sampled: list[list[float]] = []
    turns = sample_turns(
        policy,
        contexts,
        stop_token_ids=STOPS,
        max_new_tokens=10,
        pad_id=0,
        generator=torch.Generator().manual_seed(0),
        logprobs_out=sampled,
        prompt_lengths=[len(p) for p in prompts],
    )
    for prompt, context, turn, logps in zip(prompts, contexts, turns, sampled):
        assert 1 <= len(turn) <= 10
        full = torch.as_tensor(np.concatenate([context, turn]))[None]
        logp, values, _ = policy.score_tokens(
            full, torch.ones_like(full), torch.tensor([len(prompt)])
        )
        assert torch.allclose(logp[0, len(context) :], torch.tensor(logps), atol=1e-4)
        assert float(logp[0, : len(prompt)].detach().abs().sum()) == 0.0  # the prompt is not scored


def test_scores_do_not_depend_on_batch_padding():
    policy = tiny_t5(seed=1)
    episodes = [np.arange(3, 3 + n) for n in (12, 7, 20)]
    prompts = torch.tensor([5, 3, 9])
    width = max(len(e) for e in episodes)
    ids = torch.zeros((3, width), dtype=torch.long)
    att = torch.zeros_like(ids)
    for r, e in enumerate(episodes):
        ids[r, : len(e)], att[r, : len(e)] = torch.as_tensor(e), 1
    logp, v, ent = policy.score_tokens(ids, att, prompts, with_entropy=True)
    for r, e in enumerate(episodes):
        one = torch.as_tensor(e)[None]
        lp1, v1, ent1 = policy.score_tokens(
            one, torch.ones_like(one), prompts[r : r + 1], with_entropy=True
        )
        assert torch.allclose(logp[r, : len(e)], lp1[0], atol=1e-5)
        assert torch.allclose(v[r, : len(e)], v1[0], atol=1e-5)
        assert torch.allclose(ent[r, : len(e)], ent1[0], atol=1e-5)
    with pytest.raises(ValueError, match="prompt length"):
        policy.score_tokens(ids, att)


def test_save_load_round_trip_through_the_generic_loader(tmp_path):
    policy = tiny_t5()
    with torch.no_grad():
        policy.v_head.bias.fill_(0.75)
    policy.save_pretrained(tmp_path / "t5")
    loaded = ValueHeadLM.from_pretrained(tmp_path / "t5")  # the loader every CLI path uses
    assert isinstance(loaded, Seq2SeqValueHeadLM)
    ids = torch.arange(3, 20)[None]
    a = policy.score_tokens(ids, torch.ones_like(ids), torch.tensor([6]))
    b = loaded.score_tokens(ids, torch.ones_like(ids), torch.tensor([6]))
    assert torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert float(b[1][0, 6:].detach().mean()) == pytest.approx(0.75)


def test_ppo_learns_with_a_t5_policy():
    """The learning check of tests/test_ppo_agent.py, with the encoder-decoder policy: on a
    third-party env that pays for an 'A' in a four-token turn, PPO from a random T5 raises
    the reward."""
    envs = gym.make_vec("ThirdParty-Magic-v0", num_envs=8, vectorization_mode="sync")
    ppo = PPO(envs, tiny_t5(seed=3), magic_config())
    rewards = [ppo.step()["env/reward_mean"] for _ in range(25)]
    envs.close()
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5]) + 0.3


def test_sft_then_ppo_runs_a_t5_policy_on_the_calculator():
    """The whole path on TextEnv-Calculator-v0: SFT on oracle demonstrations (multi-turn,
    tool responses in the decoder's context), PPO iterations against a frozen reference,
    and evaluation through PolicyAgent. The longer run is
    benchmarks/ppo_learning.py --env calculator-t5."""
    env = gym.make("TextEnv-Calculator-v0")
    policy = make_policy(env, seed=0, arch="seq2seq")
    assert isinstance(policy, Seq2SeqValueHeadLM)
    demos = oracle_demonstrations(env, 64, seed=0, progress=False)
    losses = sft(policy, demos, SFTConfig(steps=40, batch_size=16), progress=False)
    assert losses[-1] < 0.5 * losses[0]
    sft_weights = [p.detach().clone() for p in policy.parameters()]
    envs = make_vec("TextEnv-Calculator-v0", 4)
    cfg = PPOConfig(episodes_per_iteration=8, mini_batch_size=4, ppo_epochs=1, seed=0)
    ppo = PPO(envs, policy, cfg)
    for _ in range(2):
        stats = ppo.step()
        assert all(np.isfinite(v) for v in stats.values())
    assert stats["tokens/agent_tokens_mean"] > 0
    assert all(torch.equal(a, b) for a, b in zip(sft_weights, ppo.ref.parameters()))
    result = evaluate(env, PolicyAgent(env, policy), episodes=4, split="test", progress=False)
    assert len(result.episodes) == 4 and all(ep.turns >= 1 for ep in result.episodes)
    envs.close()
    env.close()


def test_cli_trains_and_evaluates_a_t5_policy(tmp_path):
    from textgym.app.cli import main

    sft_dir = tmp_path / "sft"
    assert main(["train", "sft", "--env", "TextEnv-Calculator-v0", "--out", str(sft_dir),
                 "--arch", "seq2seq", "--steps", "2", "--batch-size", "2",
                 "--demonstrations", "4", "--quiet"]) == 0  # fmt: skip
    assert isinstance(ValueHeadLM.from_pretrained(sft_dir), Seq2SeqValueHeadLM)
    ppo_dir = tmp_path / "ppo"
    assert main(["train", "ppo", "--env", "TextEnv-Calculator-v0", "--out", str(ppo_dir),
                 "--init", str(sft_dir), "--iterations", "1", "--batch-size", "2",
                 "--mini-batch-size", "2", "--num-envs", "2", "--quiet"]) == 0  # fmt: skip
    assert main(["eval", "--agent", f"ppo:{ppo_dir}", "--env", "TextEnv-Calculator-v0",
                 "--episodes", "2", "--quiet"]) == 0  # fmt: skip
