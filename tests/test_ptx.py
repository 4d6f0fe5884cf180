"""PPO-ptx: behaviour cloning on demonstrations mixed into every PPO gradient step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from textgym import make_tokenizer
from textgym.agents import PPO, PPOConfig, ValueHeadLM, oracle_demonstrations, tiny_gpt2_config
from textgym.agents.metrics import read_jsonl
from textgym.agents.rollouts import Batch
from textgym.agents.sft import demonstration_loss
from textgym.app.cli import main
from textgym.rollout import Episode

V = len(make_tokenizer())


def tiny_policy(seed=0):
    cfg = tiny_gpt2_config(V, n_layer=1, n_embd=32, n_head=2, n_positions=512)
    return ValueHeadLM.from_config(cfg, seed=seed)


def _config(**changes):
    settings = {
        "advantage": "rloo",
        "group_size": 4,
        "episodes_per_iteration": 8,
        "mini_batch_size": 4,
        "max_new_tokens": 8,
        "ppo_epochs": 2,
        "kl_penalty": "loss",
        "kl_estimator": "k3",
        "advantage_norm": "scale",
        "checkpoint_every": 0,
        **changes,
    }
    return PPOConfig(**settings)


def _equal_reward_groups():
    """Two groups whose episodes all scored alike: every RLOO advantage is 0."""
    return [
        Episode(tokens=np.arange(3, 3 + n), agent_mask=np.r_[[False] * 3, [True] * (n - 3)],
                rewards=[r], success=bool(r), group=g)
        for n, r, g in ((8, 1.0, 0), (9, 1.0, 0), (8, 1.0, 0), (10, 1.0, 0),
                        (8, 0.0, 1), (9, 0.0, 1), (8, 0.0, 1), (10, 0.0, 1))
    ]  # fmt: skip


@pytest.fixture(scope="module")
def demos():
    env = gym.make("TextEnv-Calculator-v0")
    try:
        return oracle_demonstrations(env, 12, seed=0, progress=False)
    finally:
        env.close()


def _nll(policy, demos):
    with torch.no_grad():
        return float(demonstration_loss(policy, Batch.from_episodes(demos, 0)))


def test_the_ptx_term_alone_clones_the_demonstrations(demos):
    """Equal rewards in every group give no policy gradient and the reference is the
    policy itself (no KL gradient), so any change of weights is the ptx term's: without
    it nothing moves; with it the demonstrations' NLL falls."""
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
    try:
        plain = PPO(envs, tiny_policy(), _config())
        before = [p.detach().clone() for p in plain.policy.parameters()]
        stats = plain.learn(_equal_reward_groups())
        assert all(torch.equal(a, b) for a, b in zip(before, plain.policy.parameters()))
        assert stats["ppo/loss/ptx"] == 0.0

        ptx = PPO(envs, tiny_policy(), _config(ptx_coef=1.0), demonstrations=demos)
        start = _nll(ptx.policy, demos)
        stats = ptx.learn(_equal_reward_groups())
        assert _nll(ptx.policy, demos) < start
        # The logged term is the NLL of the drawn demonstrations, near the whole set's.
        assert stats["ppo/loss/ptx"] == pytest.approx(start, rel=0.5)
        assert stats["ppo/loss/total"] == pytest.approx(
            stats["ppo/loss/policy"] + 0.05 * stats["ppo/loss/kl"] + stats["ppo/loss/ptx"],
            abs=1e-3,
        )
    finally:
        envs.close()


def test_demonstration_draws_follow_the_seed_and_iteration(demos):
    """A resumed run must draw the demonstrations an uninterrupted one would: the draw is
    a function of (seed, iteration, epoch, step) and of nothing stateful."""
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
    try:
        seen = []

        def spy(ppo):
            real = ppo._demonstration_loss

            def record(epoch, step):
                seen.append((ppo.config.seed, ppo.iteration, epoch, step))
                return real(epoch, step)

            return record

        losses = []
        for seed in (0, 0, 1):
            ppo = PPO(envs, tiny_policy(), _config(ptx_coef=1.0, seed=seed), demonstrations=demos)
            ppo._demonstration_loss = spy(ppo)
            losses.append(float(ppo._demonstration_loss(0, 0).detach()))
        assert losses[0] == losses[1] != losses[2]
        assert seen == [(0, 0, 0, 0), (0, 0, 0, 0), (1, 0, 0, 0)]
    finally:
        envs.close()


def test_ptx_without_demonstrations_says_what_to_pass():
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
    try:
        ppo = PPO(envs, tiny_policy(), _config(ptx_coef=0.5))
        with pytest.raises(ValueError, match="demonstrations"):
            ppo.learn(_equal_reward_groups())
    finally:
        envs.close()


@pytest.mark.parametrize("field,value", [("ptx_coef", -0.1), ("ptx_demonstrations", 0)])
def test_config_refuses_a_negative_ptx_setting(field, value):
    with pytest.raises(ValueError, match=field):
        PPOConfig(**{field: value})


def _ptx_run(out, iterations, *extra):
    return main(
        [
            "train", "ppo", "--env", "TextEnv-Calculator-v0", "--out", str(out),
            "--iterations", str(iterations), "--ptx-coef", "0.5", "--ptx-demonstrations", "8",
            "--batch-size", "4", "--mini-batch-size", "2", "--num-envs", "2",
            "--checkpoint-every", "1", "--quiet", *extra,
        ]
    )  # fmt: skip


def test_a_ptx_run_resumes_as_if_never_stopped(tmp_path):
    """``train ppo --ptx-coef`` draws its demonstrations from the env's oracle, logs the
    term, and a run stopped after one iteration and resumed matches an unbroken one."""
    assert _ptx_run(tmp_path / "full", 2) == 0
    assert _ptx_run(tmp_path / "cut", 1) == 0
    assert _ptx_run(tmp_path / "cut", 2, "--resume") == 0

    def strip(rows):  # the cut run also evaluated at its first end
        return [{k: v for k, v in r.items() if not k.startswith(("time/", "eval/"))} for r in rows]

    full = strip(read_jsonl(tmp_path / "full" / "metrics.jsonl"))
    assert all(row["ppo/loss/ptx"] > 0 for row in full)
    assert strip(read_jsonl(tmp_path / "cut" / "metrics.jsonl")) == full
