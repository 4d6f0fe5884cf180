"""PPO maths against hand-computed values."""

import math

import pytest
import torch

from textgym.agents.ppo_math import (
    AdaptiveKLController,
    gae_over_agent_tokens,
    kl_estimate,
    masked_mean,
    masked_whiten,
    policy_loss,
    token_logprobs,
    value_loss,
)


def test_gae_skips_env_spans_instead_of_zero_filling():
    # Agent tokens at 0,1 and 5,6; positions 2..4 are a tool response (env tokens).
    mask = torch.tensor([[1, 1, 0, 0, 0, 1, 1]], dtype=torch.float32)
    rewards = torch.tensor([[0.0, 0.0, 0, 0, 0, 0.0, 1.0]])
    values = torch.tensor([[0.1, 0.2, 9, 9, 9, 0.3, 0.4]])
    gamma, lam = 1.0, 0.5
    adv, ret = gae_over_agent_tokens(rewards, values * mask, mask, gamma, lam)
    # By hand over the agent steps only: v = [.1, .2, .3, .4], r = [0, 0, 0, 1].
    d = [0 + 0.2 - 0.1, 0 + 0.3 - 0.2, 0 + 0.4 - 0.3, 1 - 0.4]
    a3 = d[3]
    a2 = d[2] + lam * a3
    a1 = d[1] + lam * a2
    a0 = d[0] + lam * a1
    expected = torch.tensor([[a0, a1, 0, 0, 0, a2, a3]])
    assert torch.allclose(adv, expected, atol=1e-6)
    assert torch.allclose(ret, (expected + values) * mask, atol=1e-6)
    # Zero-filling the 3 env steps would have damped the credit reaching token 1 by lam^3.
    zero_filled, _ = gae_over_agent_tokens(
        rewards, values * mask, torch.ones_like(mask), gamma, lam
    )
    assert not torch.allclose(zero_filled[0, 1], adv[0, 1])


def test_gae_discount_and_terminal():
    mask = torch.ones(1, 3)
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.zeros(1, 3)
    adv, _ = gae_over_agent_tokens(rewards, values, mask, gamma=0.9, lam=1.0)
    assert torch.allclose(adv, torch.tensor([[1 + 0.81 * 2, 0.9 * 2, 2.0]]))


def test_kl_estimators():
    logp = torch.tensor([math.log(0.5), math.log(0.2)])
    ref = torch.tensor([math.log(0.25), math.log(0.4)])
    k1 = kl_estimate(logp, ref, "k1")
    assert torch.allclose(k1, torch.tensor([math.log(2), math.log(0.5)]))
    k3 = kl_estimate(logp, ref, "k3")
    r = torch.tensor([0.5, 2.0])  # ref / pi
    assert torch.allclose(k3, (r - 1) - torch.log(r))
    assert (k3 >= 0).all() and (k1 < 0).any()
    with pytest.raises(ValueError):
        kl_estimate(logp, ref, "k2")


def test_masked_whiten_ignores_masked_entries():
    x = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1, 1, 1, 0]], dtype=torch.float32)
    w = masked_whiten(x, mask)
    assert torch.allclose(w[0, :3], torch.tensor([-1.0, 0.0, 1.0]), atol=1e-4)
    assert w[0, 3] == 100.0  # untouched
    assert abs(float(masked_mean(w, mask))) < 1e-6


def test_clipped_policy_loss_by_hand():
    adv = torch.tensor([[1.0, -1.0, 1.0]])
    old = torch.zeros(1, 3)
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))  # ratios
    mask = torch.ones(1, 3)
    loss, stats = policy_loss(new, old, adv, mask, clip_range=0.2)
    # token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(0.5, 0.8) = 0.8 (clipped);
    # token 2: max(-1.1, -1.1) = -1.1.
    assert torch.allclose(loss, torch.tensor((-1.2 + 0.8 - 1.1) / 3))
    assert torch.allclose(stats["clipfrac"], torch.tensor(2 / 3))


def test_clipped_value_loss_by_hand():
    values = torch.tensor([[1.0, 0.0]])
    old = torch.tensor([[0.0, 0.0]])
    returns = torch.tensor([[0.0, 1.0]])
    loss, _ = value_loss(values, old, returns, torch.ones(1, 2), clip_range_value=0.2)
    # token 0: max((1-0)^2, (0.2-0)^2) = 1; token 1: max(1, 1) = 1.
    assert torch.allclose(loss, torch.tensor(0.5 * (1 + 1) / 2))


def test_adaptive_kl_controller_update():
    ctl = AdaptiveKLController(0.2, target=6.0, horizon=10000)
    ctl.update(current_kl=12.0, n_steps=256)  # error clipped to +0.2
    assert ctl.value == pytest.approx(0.2 * (1 + 0.2 * 256 / 10000))
    ctl.update(current_kl=5.4, n_steps=1000)  # error -0.1
    assert ctl.value == pytest.approx(0.2 * (1 + 0.2 * 256 / 10000) * (1 - 0.1 * 0.1))


def test_token_logprobs_alignment():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]]]))
    ids = torch.tensor([[0, 1, 0]])
    logp = token_logprobs(logits, ids)
    assert torch.allclose(logp, torch.tensor([[0.0, math.log(0.5), math.log(0.9)]]))
