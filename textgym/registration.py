"""Registration of every textgym environment with Gymnasium.

Importing ``textgym`` registers the ids below. Gymnasium 1.x no longer loads entry-point
plugins, so ``gym.make("textgym:TextEnv-Calculator-v0")`` (module-prefixed id) is the way to
make one with no prior import: Gymnasium imports ``textgym`` first, which registers.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import gymnasium as gym

__all__ = ["EnvEntry", "ENVS", "register_envs", "env_ids", "missing_extra"]


@dataclass(frozen=True)
class EnvEntry:
    """One registered environment and the line ``textgym list`` prints for it."""

    id: str
    entry_point: str
    tool: str
    summary: str
    max_episode_steps: int | None = None
    #: (importable package, textgym extra) an env needs beyond the core install.
    requires: tuple[str, str] | None = None


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
        requires=("reasoning_gym", "reasoning-gym"),
    ),
    EnvEntry(
        "TextEnv-Detox-v0",
        "textgym.envs.detox:DetoxEnv",
        "Toxicity",
        "continue a provoking prompt without turning offensive; reward = 1 - P(offensive) "
        "from alt-profanity-check",
        requires=("profanity_check", "detox"),
    ),
)


def register_envs() -> None:
    """Register every id in :data:`ENVS` (idempotent)."""
    for entry in ENVS:
        if entry.id not in gym.registry:
            # No TimeLimit wrapper: the env truncates itself at max_turns, and a Gymnasium
            # step limit would double-count turns.
            gym.register(id=entry.id, entry_point=entry.entry_point, disable_env_checker=False)


def env_ids(*, installed_only: bool = False) -> list[str]:
    """The registered textgym ids; ``installed_only``: those whose optional extra (if
    any) is installed here, so that every one of them can be made."""
    return [e.id for e in ENVS if not installed_only or missing_extra(e.id) is None]


def missing_extra(env_id: str) -> str | None:
    """What to install before ``env_id`` can be made here, or None. Looks the package up
    without importing it (reasoning-gym takes a second to import)."""
    entry = next((e for e in ENVS if e.id == env_id), None)
    if entry is None or entry.requires is None:
        return None
    package, extra = entry.requires
    if importlib.util.find_spec(package) is not None:
        return None
    return f"{env_id} needs the {extra} extra: pip install 'textgym[{extra}]'"
