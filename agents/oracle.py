"""The oracle agent: scripted perfect tool use, the upper bound of every leaderboard, and
the source of SFT demonstrations."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["OracleAgent"]


class OracleAgent:
    """Plays the task's scripted solution (the env's ``oracle_action()``), which calls
    the tools for real and submits what they return.

    Works on any env that derives from :class:`textgym.TextEnv` and whose task defines
    ``oracle_turn``.
    """

    def __init__(self, env: gym.Env):
        try:
            self.oracle_action = env.get_wrapper_attr("oracle_action")
        except AttributeError:
            raise TypeError(
                f"{type(env.unwrapped).__name__} has no oracle_action(); the oracle agent "
                "needs a textgym.TextEnv whose task defines oracle_turn()"
            ) from None
        self.env = env

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return self.oracle_action()
