"""Critic-free advantages (GRPO, RLOO) and the groups of episodes per item they need."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from textgym import make_tokenizer
from textgym.agents import PPO, PPOConfig, ValueHeadLM, tiny_gpt2_config
from textgym.agents import ppo as ppo_module
from textgym.agents.ppo_math import (
    group_advantages,
    masked_whiten,
    minibatch_order,
    normalise_advantages,
    token_advantages,
)
from textgym.agents.rollouts import collect_episodes
from textgym.rollout import Episode

V = len(make_tokenizer())


def tiny_policy(seed=0):
    cfg = tiny_gpt2_config(V, n_layer=1, n_embd=32, n_head=2, n_positions=512)
    return ValueHeadLM.from_config(cfg, seed=seed)


# ---- the estimators against hand-computed values -------------------------------------


def test_critic_free_advantages_are_scaled_not_shifted_so_groups_stay_zero_sum():
    """A group of long episodes whose failure ran longer than its success (a program,
    then garbage), and a group of short ones. Whitening over tokens shifts every token by
    the token mean, so the tokens the long group shares get a net push; the critic-free
    normaliser only scales, and each group's shared tokens still net to zero."""
    lengths = [200, 300, 10, 10]
    mask = torch.zeros(4, 300)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1.0
    rewards = torch.zeros(4, 300)
    for row, r in enumerate([1.0, 0.0, 1.0, 0.0]):
        rewards[row, lengths[row] - 1] = r
    groups = torch.tensor([0, 0, 1, 1])
    adv, _ = token_advantages("rloo", rewards, torch.zeros(4, 300), mask, groups, 1.0, 0.95)
    # Shared tokens: position 0 of the long group's two episodes.
    scaled = normalise_advantages(adv, mask, "scale")
    assert float(scaled[0, 0] + scaled[1, 0]) == pytest.approx(0.0, abs=1e-6)
    rms = float((scaled.pow(2) * mask).sum() / mask.sum()) ** 0.5
    assert rms == pytest.approx(1.0, rel=1e-4)
    whitened = masked_whiten(adv, mask)
    assert abs(float(whitened[0, 0] + whitened[1, 0])) > 1e-3  # the shift the fix avoids
    assert torch.equal(normalise_advantages(adv, mask, "whiten"), whitened)
    with pytest.raises(ValueError, match="critic-free"):
        PPOConfig(advantage_norm="scale")
    PPOConfig(advantage="rloo", group_size=2, advantage_norm="scale")


def test_grpo_normalises_by_the_mean_and_unbiased_std_of_the_group():
    returns = torch.tensor([1.0, 0.0, 0.0, 1.0, 3.0, 1.0])
    groups = torch.tensor([0, 0, 0, 0, 7, 7])
    # Group 0: mean 0.5, unbiased std sqrt(1/3); group 7: mean 2, std sqrt(2).
    s0, s7 = (1 / 3) ** 0.5, 2**0.5
    expected = [0.5 / s0, -0.5 / s0, -0.5 / s0, 0.5 / s0, 1 / s7, -1 / s7]
    got = group_advantages(returns, groups, "grpo")
    # The 1e-4 in the denominator moves the values by less than 1e-3 here.
    assert got.tolist() == pytest.approx(expected, rel=1e-3)


def test_rloo_subtracts_the_mean_of_the_other_episodes():
    returns = torch.tensor([1.0, 0.0, 0.0, 0.5, 2.0, 4.0])
    groups = torch.tensor([3, 3, 3, 3, 1, 1])
    # Episode 0: 1 - (0 + 0 + 0.5) / 3; episode 3: 0.5 - (1 + 0 + 0) / 3; group 1: +-2.
    expected = [1 - 0.5 / 3, -1.5 / 3, -1.5 / 3, 0.5 - 1 / 3, 2 - 4, 4 - 2]
    assert group_advantages(returns, groups, "rloo").tolist() == pytest.approx(expected)


def test_a_group_of_equal_returns_has_no_advantage():
    returns = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    for kind in ("grpo", "rloo"):
        assert group_advantages(returns, groups, kind).abs().max() == 0.0


def test_the_episode_advantage_goes_on_every_agent_token_and_nowhere_else():
    mask = torch.tensor([[0, 1, 1, 0, 1], [0, 1, 0, 0, 0]], dtype=torch.float32)
    rewards = torch.zeros(2, 5)
    rewards[0, 4], rewards[1, 1] = 1.0, 0.0  # the env reward on each last agent token
    rewards[0, 2] = -0.25  # a KL penalty on one token: part of the episode's return
    adv, returns = token_advantages(
        "rloo", rewards, torch.zeros(2, 5), mask, torch.tensor([0, 0]), 1.0, 0.95
    )
    # Returns 0.75 and 0: leave-one-out advantages +0.75 and -0.75.
    assert adv.tolist() == [[0, 0.75, 0.75, 0, 0.75], [0, -0.75, 0, 0, 0]]
    assert returns.tolist() == [[0, 0.75, 0.75, 0, 0.75], [0, 0, 0, 0, 0]]


def test_groups_need_two_episodes_and_a_known_estimator():
    with pytest.raises(ValueError, match="at least two episodes per group"):
        group_advantages(torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0, 0, 1]), "grpo")
    with pytest.raises(ValueError, match="'grpo' or 'rloo'"):
        group_advantages(torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), "gae")


def test_config_checks_the_estimator_and_group_size():
    with pytest.raises(ValueError, match="advantage must be one of"):
        PPOConfig(advantage="ppo")
    with pytest.raises(ValueError, match="set group_size to 2 or more"):
        PPOConfig(advantage="grpo")
    with pytest.raises(ValueError, match="multiple of group_size"):
        PPOConfig(advantage="rloo", group_size=4, episodes_per_iteration=6)
    assert PPOConfig(advantage="rloo", group_size=4, episodes_per_iteration=8).group_size == 4


# ---- groups of episodes per item in rollouts -------------------------------------------


def _collect(group_size, n_episodes=8, num_envs=3, seed=0):
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=num_envs, vectorization_mode="sync")
    try:
        return collect_episodes(
            envs,
            tiny_policy(),
            n_episodes,
            seed=seed,
            generator=torch.Generator().manual_seed(seed),
            max_new_tokens=6,
            group_size=group_size,
        )
    finally:
        envs.close()


def _prompt(record: Episode) -> bytes:
    return record.tokens[: record.prompt_length].tobytes()


def test_rollouts_collect_groups_of_episodes_of_one_item():
    # 3 envs and groups of 4: groups straddle rounds and still hold one item each.
    records = _collect(group_size=4)
    assert [r.group for r in records] == [0, 0, 0, 0, 1, 1, 1, 1]
    prompts = [_prompt(r) for r in records]
    assert len(set(prompts[:4])) == 1 and len(set(prompts[4:])) == 1
    assert prompts[0] != prompts[4]
    # The policy samples each episode of a group on its own.
    assert len({r.tokens.tobytes() for r in records[:4]}) > 1
    # Same seed, same groups.
    assert [r.tokens.tolist() for r in _collect(group_size=4)] == [
        r.tokens.tolist() for r in records
    ]


def test_ungrouped_rollouts_draw_an_item_per_episode():
    records = _collect(group_size=1)
    assert {r.group for r in records} == {-1}
    assert len({_prompt(r) for r in records}) == len(records)


def test_rollouts_refuse_a_partial_group():
    with pytest.raises(ValueError, match="multiple of group_size"):
        _collect(group_size=3)


# ---- PPO with a critic-free estimator ------------------------------------------------------


@pytest.mark.parametrize("advantage", ["grpo", "rloo"])
def test_critic_free_ppo_trains_the_policy_and_not_the_value_head(advantage):
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=4, vectorization_mode="sync")
    policy = tiny_policy()
    config = PPOConfig(
        episodes_per_iteration=8,
        group_size=4,
        advantage=advantage,
        mini_batch_size=4,
        max_new_tokens=6,
        early_stopping=False,
        ratio_threshold=1e9,
    )
    ppo = PPO(envs, policy, config)
    records = _collect(group_size=4)
    envs.close()
    # An untrained policy scores 0 everywhere, and equal returns carry no signal: give
    # each group two winners.
    for i, record in enumerate(records):
        record.rewards = [float(i % 2)]
    value_head = {k: v.clone() for k, v in policy.v_head.state_dict().items()}
    lm = {k: v.clone() for k, v in policy.model.state_dict().items()}
    stats = ppo.learn(records)
    assert np.isfinite(stats["ppo/loss/policy"])
    assert all(torch.equal(v, policy.v_head.state_dict()[k]) for k, v in value_head.items())
    assert any(not torch.equal(v, policy.model.state_dict()[k]) for k, v in lm.items())
    # The winners' tokens got more likely.
    rewarded = records[1]
    ids = torch.tensor(rewarded.tokens)[None]
    with torch.no_grad():
        before = ppo.ref.score_tokens(ids, torch.ones_like(ids))[0]
        after = policy.score_tokens(ids, torch.ones_like(ids))[0]
    agent = torch.tensor(rewarded.agent_mask)
    assert after[0, agent].sum() > before[0, agent].sum()


def test_critic_free_ppo_refuses_episodes_without_groups():
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=2, vectorization_mode="sync")
    config = PPOConfig(episodes_per_iteration=4, group_size=2, advantage="grpo")
    ppo = PPO(envs, tiny_policy(), config)
    envs.close()
    with pytest.raises(ValueError, match="collected in groups"):
        ppo.learn(_collect(group_size=1, n_episodes=4))


@pytest.mark.parametrize("by_length", [True, False])
def test_minibatches_keep_each_group_of_episodes_whole(by_length):
    # Twelve episodes in groups of four, interleaved and of mixed lengths: sorting by
    # episode length alone would split every group.
    groups = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    lengths = torch.tensor([10, 50, 30, 48, 12, 29, 31, 49, 11, 13, 30, 51])
    order = minibatch_order(lengths, 4, torch.Generator().manual_seed(0), by_length, groups)
    assert sorted(torch.cat(order).tolist()) == list(range(12))  # each episode once
    assert len(order) == 3
    for members in order:
        assert len(set(groups[members].tolist())) == 1  # one whole group per minibatch
    # A minibatch of 8 holds two whole groups, and the last takes what is left.
    order = minibatch_order(lengths, 8, torch.Generator().manual_seed(0), by_length, groups)
    assert [len(m) for m in order] in ([8, 4], [4, 8])
    assert sorted(torch.cat(order).tolist()) == list(range(12))


def test_ungrouped_episodes_keep_the_episode_order():
    lengths = torch.tensor([50, 10, 48, 12, 30, 11, 49, 31])
    plain = minibatch_order(lengths, 4, torch.Generator().manual_seed(3), True)
    ungrouped = minibatch_order(
        lengths, 4, torch.Generator().manual_seed(3), True, torch.full((8,), -1)
    )
    assert all(torch.equal(a, b) for a, b in zip(plain, ungrouped))


def test_ppo_updates_on_whole_groups(monkeypatch):
    """PPO hands the minibatch order its episodes' groups: each gradient step sees whole
    groups, so a group's zero-sum advantages cancel on the tokens its episodes share."""
    seen = []
    real = ppo_module.minibatch_order

    def spy(lengths, size, generator, by_length, groups=None):
        order = real(lengths, size, generator, by_length, groups)
        seen.append((groups, order))
        return order

    monkeypatch.setattr(ppo_module, "minibatch_order", spy)
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=4)
    cfg = PPOConfig(
        advantage="rloo",
        group_size=4,
        episodes_per_iteration=8,
        mini_batch_size=2,
        max_new_tokens=8,
        ppo_epochs=1,
        checkpoint_every=0,
    )
    PPO(envs, tiny_policy(), cfg).step()
    groups, order = seen[0]
    assert groups is not None and sorted(set(groups.tolist())) == [0, 1]
    for members in order:
        assert len(members) == 4 and len(set(groups[members].tolist())) == 1


def test_only_positive_advantages_push_nothing_down(monkeypatch):
    """With ``only_positive_advantages`` an episode worse than its group's baseline gets 0:
    the update pushes the group's better episodes up and leaves the others alone."""
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=4)
    cfg = PPOConfig(
        advantage="rloo",
        group_size=4,
        episodes_per_iteration=8,
        mini_batch_size=8,
        max_new_tokens=8,
        ppo_epochs=1,
        advantage_norm="scale",
        only_positive_advantages=True,
        checkpoint_every=0,
    )
    ppo = PPO(envs, tiny_policy(), cfg)
    seen = {}
    real = ppo_module.normalise_advantages

    def spy(advantages, mask, *args, **kwargs):
        seen["in"] = advantages.clone()
        seen["out"] = real(advantages, mask, *args, **kwargs)
        seen["mask"] = mask
        return seen["out"]

    monkeypatch.setattr(ppo_module, "normalise_advantages", spy)
    records = [
        Episode(tokens=np.arange(3, 3 + n), agent_mask=np.r_[[False] * 3, [True] * (n - 3)],
                rewards=[r], success=bool(r), group=g)
        for n, r, g in ((8, 1.0, 0), (9, 0.0, 0), (8, 0.0, 0), (10, 0.0, 0),
                        (8, 1.0, 1), (9, 1.0, 1), (8, 0.0, 1), (10, 1.0, 1))
    ]  # fmt: skip
    ppo.learn(records)
    agent = seen["mask"].bool()
    per_episode = [float(seen["in"][i][agent[i]][0]) for i in range(8)]
    # RLOO: 1 - 0 = 1 for the lone success of group 0, 0 - 1/3 for its failures (now 0);
    # group 1: 1 - 2/3 = 1/3 for each success, 0 - 1 for its failure (now 0).
    assert per_episode == pytest.approx([1.0, 0, 0, 0, 1 / 3, 1 / 3, 0, 1 / 3])
    assert bool((seen["out"][agent] >= 0).all())


@pytest.mark.parametrize(
    "settings",
    [{"advantage": "gae"}, {"advantage": "rloo", "group_size": 4}],
)
def test_only_positive_advantages_refuses_what_would_undo_it(settings):
    with pytest.raises(ValueError, match="only_positive_advantages"):
        PPOConfig(only_positive_advantages=True, **settings)
