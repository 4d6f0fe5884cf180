"""The multi-agent registry: PettingZoo text environments by id.

PettingZoo has no registry of its own, so textgym keeps one::

    import textgym
    env = textgym.make_multiagent("TextMA-WikiClue-v0")            # AEC
    par = textgym.make_multiagent("TextMA-Race-v0", env_id="TextEnv-Calculator-v0")

Every multi-agent env uses token arrays: observations are ``Box(0, V-1, (max_context,),
int64)``, the seat's context right-padded with the pad id (``info["length"]`` real tokens,
``info["agent_mask"]`` on the seat's own tokens), and actions are token-id arrays read up
to their first stop token or first pad id (``Box(0, V-1, (max_turn_tokens,), int64)``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = [
    "MultiAgentEntry",
    "MULTIAGENT_ENVS",
    "make_multiagent",
    "multiagent_ids",
    "token_array_spaces",
]


@dataclass(frozen=True)
class MultiAgentEntry:
    """One multi-agent env: its id, ``module:Class``, API kind and ``textgym list`` line."""

    id: str
    entry_point: str
    api: str  # "aec" or "parallel"
    tool: str
    summary: str


MULTIAGENT_ENVS: tuple[MultiAgentEntry, ...] = (
    MultiAgentEntry(
        "TextMA-WikiClue-v0",
        "textgym.envs.wiki_clue:WikiClueEnv",
        "aec",
        "Wiki",
        "cooperative clue game: a clue giver describes a hidden encyclopedia entity, a "
        "guesser searches and names it; both score 1, less 0.25 a failed round",
    ),
    MultiAgentEntry(
        "TextMA-Race-v0",
        "textgym.envs.race:RaceEnv",
        "parallel",
        "any",
        "N agents race on the same problem of a single-agent env (Calculator by default); "
        "first correct answer wins, zero-sum",
    ),
)


def multiagent_ids() -> list[str]:
    """The registered multi-agent ids."""
    return [entry.id for entry in MULTIAGENT_ENVS]


def make_multiagent(ma_id: str, /, **kwargs: Any):
    """Build the multi-agent env ``ma_id`` with keyword arguments ``kwargs``.

    ``ma_id`` is positional-only, so ``kwargs`` may hold the env's own ``env_id`` (the
    race's single-agent env): ``make_multiagent("TextMA-Race-v0", env_id="TextEnv-...")``.
    """
    for entry in MULTIAGENT_ENVS:
        if entry.id == ma_id:
            module_name, _, cls_name = entry.entry_point.partition(":")
            return getattr(importlib.import_module(module_name), cls_name)(**kwargs)
    raise ValueError(
        f"unknown multi-agent env id {ma_id!r}; known: {', '.join(multiagent_ids())} "
        "(single-agent envs are made with gym.make)"
    )


def token_array_spaces(
    vocab_size: int, max_context: int, max_turn_tokens: int
) -> tuple[spaces.Box, spaces.Box]:
    """The observation and action spaces of one seat (build once per seat and cache)."""
    high = vocab_size - 1
    return (
        spaces.Box(0, high, (max_context,), np.int64),
        spaces.Box(0, high, (max_turn_tokens,), np.int64),
    )
