"""Other views of the same token-sequence env.

- :class:`TokenLevel`: one token per step (``Discrete(V)`` actions, fixed-length ``Box``
  observations), for classic RL agents (SB3, CleanRL) and shared-memory vector envs.
- :class:`TextLevel`: ``str`` actions and observations, for agents that speak text.
- :class:`FixedLength`: the turn-level env with padded fixed-shape observations.
- :class:`SelfPlayVectorEnv`: every seat of several PettingZoo parallel games as one
  vector env, so one policy plays all seats.
"""

from textgym.wrappers.fixed_length import FixedLength
from textgym.wrappers.selfplay import SelfPlayVectorEnv
from textgym.wrappers.text_level import TextLevel
from textgym.wrappers.text_space import AnyText
from textgym.wrappers.token_level import TokenLevel

__all__ = ["AnyText", "FixedLength", "SelfPlayVectorEnv", "TextLevel", "TokenLevel"]
