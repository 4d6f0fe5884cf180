"""Registration of every textgym environment with Gymnasium.

Importing ``textgym`` registers the ids below. Gymnasium 1.x no longer loads entry-point
plugins, so ``gym.make("textgym:TextEnv-Calculator-v0")`` (module-prefixed id) is the way to
make one with no prior import: Gymnasium imports ``textgym`` first, which registers.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import gymnasium as gym

__all__ = ["EnvEntry", "ENVS", "Tier", "register_envs", "env_ids", "env_tiers", "missing_extra"]


@dataclass(frozen=True)
class Tier:
    """A difficulty tier of an env: a named config whose test split the leaderboard scores
    on its own, so a saturated easy config cannot hide a hard one. ``kwargs`` go to
    ``gym.make`` (as (name, value) pairs: the entry is frozen and hashable); the split they
    make has its own hash."""

    name: str
    kwargs: tuple[tuple[str, object], ...]
    description: str = ""

    def make_kwargs(self) -> dict[str, object]:
        return dict(self.kwargs)


def _levels(levels: dict[int, str]) -> tuple[Tier, ...]:
    return tuple(Tier(f"level-{k}", (("level", k),), text) for k, text in levels.items())


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
    #: Difficulty tiers the leaderboard scores besides the default config (the
    #: continuity column); a new env with levels declares its tiers here.
    tiers: tuple[Tier, ...] = ()


ENVS: tuple[EnvEntry, ...] = (
    EnvEntry(
        "TextEnv-Calculator-v0",
        "textgym.envs.calculator:CalculatorEnv",
        "Calculator",
        "arithmetic questions (levels 0-3); reward 1 for the exact answer",
        tiers=_levels(
            {
                0: "a op b, operands below 50",
                1: "three operands below 100, precedence",
                2: "three or four operands below 1000, // and %, parentheses",
                3: "two to four operands of 4 to 7 digits, parentheses",
            }
        ),
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
        tiers=(
            Tier("single-hop", (("multi_hop", 0.0),), "one search answers the question"),
            Tier("multi-hop", (("multi_hop", 1.0),), "two searches, the second from the first"),
        ),
    ),
    EnvEntry(
        "TextEnv-Python-v0",
        "textgym.envs.python:PythonEnv",
        "Python",
        "word and algorithmic problems solved with Python in a hardened sandbox; "
        "reward 1 for the exact integer",
        tiers=_levels(
            {
                0: "word problems with numbers to 20, small algorithm inputs",
                1: "numbers to 400, inputs x10 (the default config)",
                2: "numbers to 9000, inputs x100",
            }
        ),
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


def env_tiers(env_id: str) -> tuple[Tier, ...]:
    """The difficulty tiers ``env_id`` declares (none for an id textgym does not own)."""
    entry = next((e for e in ENVS if e.id == env_id), None)
    return () if entry is None else entry.tiers


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
