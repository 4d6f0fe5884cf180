"""``TextFunctionAgent``: any ``str -> str`` function as an agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from textgym.env_spec import text_env_spec
from textgym.tokenizer import decode

__all__ = ["TextFunctionAgent"]


class TextFunctionAgent:
    """Drives a textgym env with ``fn(context) -> turn``, both plain text.

    ``fn`` sees the whole context as text, markers included (what the
    :class:`~textgym.wrappers.TextLevel` view shows), and returns its next turn, for
    example ``"<request><Calculator>12+3<call>"`` or ``"Result=15<submit>"``. This is how a
    prompt-engineered API model or a rule-based baseline enters the leaderboard: a
    ``module:callable`` spec whose callable returns ``TextFunctionAgent(env, fn)``.

    Args:
        env: a textgym env (anything with ``encode_turn`` and ``tokenizer``).
        fn: the policy; it must return a ``str``.
    """

    def __init__(self, env: gym.Env, fn: Callable[[str], str]):
        self.spec = text_env_spec(env, "TextFunctionAgent")
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.env = env
        self.fn = fn

    def reset(self, seed: int | None = None) -> None:
        pass

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        turn = self.fn(decode(self.spec.tokenizer, obs))
        if not isinstance(turn, str):
            raise TypeError(f"the text policy returned {type(turn).__name__}, not str")
        return self.spec.encode_turn(turn)
