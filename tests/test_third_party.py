"""Third-party agents plug in through the plain Gymnasium API: stable-baselines3 on the
TokenLevel view, a CleanRL-style loop on vector envs, and a str -> str function on the
TextLevel view. Each runs the script in examples/ that the README points to."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import textgym
from textgym.app.specs import make_agent

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def examples(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield lambda name: importlib.import_module(name)
    for name in ("sb3_token_level", "cleanrl_token_ppo", "text_function_agent"):
        sys.modules.pop(name, None)


def test_stable_baselines3_ppo_trains_on_token_level_calculator(examples):
    pytest.importorskip("stable_baselines3")
    sb3_example = examples("sb3_token_level")
    model = sb3_example.train(timesteps=2048, seed=0)
    assert model.num_timesteps >= 2048
    assert len(model.ep_info_buffer) > 0  # whole episodes ended inside the run
    # Two optimisation phases ran and moved the policy away from its initialisation.
    initial = sb3_example.PPO("MultiInputPolicy", sb3_example.make_env(), seed=0)
    moved = [
        not torch.equal(a, b)
        for a, b in zip(model.policy.parameters(), initial.policy.parameters())
    ]
    assert any(moved)
    scores = sb3_example.evaluate(model, episodes=2)
    assert scores["mean_tokens"] > 0


def test_cleanrl_style_loop_runs_and_async_matches_sync(examples):
    loop = examples("cleanrl_token_ppo")
    args = loop.Args(iterations=2, num_steps=32, num_envs=2)
    stats = loop.train(args)
    assert len(stats) == 2
    for row in stats:
        assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
        assert row["losses/entropy"] > 0
    again = loop.train(
        loop.Args(iterations=2, num_steps=32, num_envs=2, vectorization_mode="async")
    )
    assert again == stats  # same seed: identical run in a subprocess-per-env vector env


def test_a_str_to_str_function_drives_the_text_level_view(examples):
    rules = examples("text_function_agent")
    assert rules.play(episodes=20) == 1.0
    # The same function as a leaderboard agent (module:callable spec).
    env = gym.make("TextEnv-Calculator-v0")
    agent = make_agent("text_function_agent:make_agent", env)
    result = textgym.evaluate(env, agent, episodes=10, progress=False)
    assert result.success_rate == 1.0 and result.mean_tool_calls == 1.0
    env.close()


def test_text_function_agent_rejects_non_text_policies():
    from textgym.agents import TextFunctionAgent

    env = gym.make("TextEnv-Calculator-v0")
    with pytest.raises(TypeError, match="callable"):
        TextFunctionAgent(env, "not a function")
    agent = TextFunctionAgent(env, lambda text: 42)
    obs, info = env.reset(seed=0)
    with pytest.raises(TypeError, match="returned int, not str"):
        agent.act(obs, info)
    env.close()
