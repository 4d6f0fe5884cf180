"""``make demo``: the main job on embedded defaults, offline, on the CPU.

Until the PPO agent lands this evaluates the oracle (perfect tool use) and the random agent
on the Calculator test split and shows one transcript.
"""

from __future__ import annotations

import gymnasium as gym

import textgym
from textgym.agents import OracleAgent, RandomAgent

ENV_ID = "TextEnv-Calculator-v0"


def run_demo(episodes: int = 100) -> int:
    env = gym.make(ENV_ID)
    print(f"textgym {textgym.__version__} demo: {ENV_ID}, {episodes} test-split episodes\n")

    example = textgym.run_episode(env, OracleAgent(env), seed=0, options={"split": "test"})
    print("One oracle episode (TRL's transcript form):")
    print("  " + env.unwrapped.transcript().replace("\n", "\n  "))
    print()

    rows = []
    for name, agent in (("oracle", OracleAgent(env)), ("random", RandomAgent(env, seed=0))):
        result = textgym.evaluate(env, agent, episodes=episodes, env_id=ENV_ID)
        rows.append((name, result))
    env.close()

    print(f"\n{'agent':<8} {'success':>8} {'mean reward':>12} {'tool calls/ep':>14}")
    for name, result in rows:
        print(
            f"{name:<8} {result.success_rate:>8.1%} {result.mean_reward:>12.3f} "
            f"{result.mean_tool_calls:>14.2f}"
        )
    assert example.success, "the oracle failed its demo episode"
    return 0
