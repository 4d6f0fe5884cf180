"""Registration of every textgym environment with Gymnasium.

Importing ``textgym`` registers the ids below. Gymnasium 1.x no longer loads entry-point
plugins, so ``gym.make("textgym:TextEnv-Calculator-v0")`` (module-prefixed id) is the way to
make one with no prior import: Gymnasium imports ``textgym`` first, which registers.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym

__all__ = ["EnvEntry", "ENVS", "register_envs", "env_ids"]


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment and the line ``textgym list`` prints for it."""

    id: str
    entry_point: str
    tool: str
    summary: str
    max_episode_steps: int | None = None


ENVS: tuple[EnvEntry, ...] = (
    EnvEntry(
        "TextEnv-Calculator-v0",
        "textgym.envs.calculator:CalculatorEnv",
        "Calculator",
        "arithmetic questions (levels 0-3); reward 1 for the exact answer",
    ),
    EnvEntry(
        "TextEnv-Sentiment-v0",
        "textgym.envs.sentiment:SentimentEnv",
        "Sentiment",
        "continue a movie review so it reads positive; reward = VADER sentiment in [-1, 1]",
    ),
    EnvEntry(
        "TextEnv-WikiSearch-v0",
        "textgym.envs.wiki:WikiSearchEnv",
        "Wiki",
        "questions about a generated encyclopedia (single- and multi-hop), BM25 search; "
        "reward 1 for a normalised exact match",
    ),
    EnvEntry(
        "TextEnv-Python-v0",
        "textgym.envs.python:PythonEnv",
        "Python",
        "word and algorithmic problems solved with Python in a hardened sandbox; "
        "reward 1 for the exact integer",
    ),
    EnvEntry(
        "TextEnv-ReasoningGym-v0",
        "textgym.envs.reasoning_gym:ReasoningGymEnv",
        "Python",
        "any reasoning-gym dataset (dataset=..., default basic_arithmetic) with the Python "
        "sandbox; reward = the dataset's score_answer, success at 1.0",
    ),
)


def register_envs() -> None:
    """Register every id in :data:`ENVS` (idempotent)."""
    for entry in ENVS:
        if entry.id not in gym.registry:
            # No TimeLimit wrapper: the env truncates itself at max_turns, and a Gymnasium
            # step limit would double-count turns.
            gym.register(id=entry.id, entry_point=entry.entry_point, disable_env_checker=False)


def env_ids() -> list[str]:
    """The registered textgym ids."""
    return [entry.id for entry in ENVS]
