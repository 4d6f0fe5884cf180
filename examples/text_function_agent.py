"""A plain ``str -> str`` function plays TextEnv-Calculator-v0 through the TextLevel view.

    python examples/text_function_agent.py            # 200 test items, prints the score
    textgym leaderboard submit --agent text_function_agent:make_agent --name rules \\
        --envs TextEnv-Calculator-v0 -o rules.json     # with examples/ on PYTHONPATH

The policy reads the context as text and writes its next turn as text, markers included:
first a calculator call on the question's expression, then the tool's answer.
"""

from __future__ import annotations

import argparse
import re

import gymnasium as gym

import textgym
from textgym.agents import TextFunctionAgent
from textgym.wrappers import TextLevel

QUESTION = re.compile(r"What is (?P<expr>[^?]+)\?")
RESPONSE = re.compile(r"<call>(?P<result>[^<]*)<response>")


def solve(context: str) -> str:
    """The whole context so far -> the next turn."""
    answered = RESPONSE.findall(context)
    if answered:
        return f"Result={answered[-1].strip()}<submit>"
    question = QUESTION.search(context)
    if question is None:
        return "Result=0<submit>"  # not a calculator question: give up cleanly
    return f"<request><Calculator>{question['expr'].strip()}<call>"


def make_agent(env: gym.Env) -> TextFunctionAgent:
    """The ``module:callable`` a leaderboard spec names."""
    return TextFunctionAgent(env, solve)


def play(episodes: int = 200, seed: int = 0) -> float:
    """Drive the TextLevel view with :func:`solve` on the first ``episodes`` test items."""
    env = TextLevel(gym.make("TextEnv-Calculator-v0"))
    solved = 0
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i, options={"split": "test", "index": i})
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(solve(obs))
            done = terminated or truncated
        solved += bool(info["success"])
    env.close()
    return solved / episodes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    args = parser.parse_args()
    print(
        f"textgym {textgym.__version__}: str -> str rules solve "
        f"{play(args.episodes):.1%} of the calculator test split"
    )
