"""The random agent: the floor of every leaderboard."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["RandomAgent"]


class RandomAgent:
    """Writes turns of uniformly random token ids.

    Args:
        env: the env (its ``action_space`` must be ``Sequence(Discrete(V))``).
        seed: base seed; ``reset(seed)`` re-seeds per episode.
        max_tokens: turn lengths are uniform in ``[1, max_tokens]``.
    """

    def __init__(self, env: gym.Env, seed: int = 0, max_tokens: int = 32):
        space = env.action_space
        feature = getattr(space, "feature_space", None)
        if not isinstance(feature, gym.spaces.Discrete):
            raise TypeError(f"RandomAgent needs a Sequence(Discrete(V)) action space, got {space}")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.vocab_size = int(feature.n)
        self.max_tokens = max_tokens
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else [self.seed, seed])

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        length = int(self.rng.integers(1, self.max_tokens + 1))
        return self.rng.integers(0, self.vocab_size, size=length, dtype=np.int64)
