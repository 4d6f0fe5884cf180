"""``make demo``: the main job on embedded defaults, offline, on the CPU.

A tiny GPT-2 (built from a config, no hub) with the ByT5 tokenizer learns to use the
calculator: a short SFT warm start on oracle demonstrations, then PPO through the plain
Gymnasium API, then the test split before and after, with the learning curve as a PNG.
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium as gym
import torch

import textgym
from textgym.agents import OracleAgent, PolicyAgent, PPOConfig, RandomAgent, SFTConfig
from textgym.agents.train import train_ppo, train_sft

ENV_ID = "TextEnv-Calculator-v0"


def _success(env: gym.Env, agent, episodes: int) -> float:
    return textgym.evaluate(
        env, agent, episodes=episodes, progress=False, env_id=ENV_ID
    ).success_rate


def run_demo(
    episodes: int = 100,
    out_dir: str = "runs/demo",
    sft_steps: int = 150,
    ppo_iterations: int = 30,
) -> int:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    started = time.perf_counter()
    out = Path(out_dir)
    env = gym.make(ENV_ID)
    print(
        f"textgym {textgym.__version__} demo on {ENV_ID}: tiny GPT-2 from a config, "
        "ByT5 tokenizer, CPU, offline\n"
    )
    example = textgym.run_episode(env, OracleAgent(env), seed=0, options={"split": "test"})
    assert example.success
    print("The task, solved by the oracle (TRL's transcript form):")
    print("  " + env.unwrapped.transcript().replace("\n", "\n  ") + "\n")

    print(f"1/3 SFT warm start: {sft_steps} steps of behaviour cloning on oracle episodes")
    sft_dir = train_sft(ENV_ID, out / "sft", SFTConfig(steps=sft_steps))
    before = _success(env, PolicyAgent(env, sft_dir), episodes)

    print(f"2/3 PPO: {ppo_iterations} iterations of 32 episodes through gym.make_vec")
    config = PPOConfig(total_iterations=ppo_iterations, checkpoint_every=0)
    train_ppo(ENV_ID, out / "ppo", config, init=sft_dir)
    after = _success(env, PolicyAgent(env, out / "ppo" / "policy"), episodes)

    print(f"3/3 evaluation on {episodes} test-split items (greedy decoding)\n")
    rows = [
        ("random", _success(env, RandomAgent(env), episodes)),
        ("SFT warm start", before),
        ("SFT + PPO", after),
        ("oracle", _success(env, OracleAgent(env), episodes)),
    ]
    env.close()
    for name, rate in rows:
        print(f"  {name:<16} success {rate:6.1%}")
    print(f"\n  PPO changed test success by {100 * (after - before):+.1f} points.")
    print(f"  learning curve: {out / 'ppo' / 'learning_curve.png'}")
    print(
        f"  trained model:  {out / 'ppo' / 'policy'}  "
        f"(textgym eval --agent ppo:{out / 'ppo'} --env {ENV_ID})"
    )
    print(f"  took {(time.perf_counter() - started) / 60:.1f} minutes")
    return 0
