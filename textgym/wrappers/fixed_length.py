"""The turn-level env with fixed-shape observations."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["FixedLength"]


class FixedLength(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Pads the observation to ``max_context`` tokens for frameworks that need fixed shapes.

    ## Observation Space

    ``Box(0, V-1, (max_context,), int64)``: the context, then the pad token (right padding)
    or the pad token, then the context (``padding_side="left"``). ``info["length"]`` is the
    number of real tokens and ``info["agent_mask"]`` (already ``max_context`` long) is
    aligned with the unpadded context from its start.

    Actions, rewards, starting state and episode end are the wrapped env's.

    ## Arguments

    - ``env``: a textgym turn-level env.
    - ``padding_side``: ``"right"`` (default) or ``"left"``.

    ## Version History

    - v0: initial release.
    """

    def __init__(self, env: gym.Env, padding_side: str = "right"):
        gym.utils.RecordConstructorArgs.__init__(self, padding_side=padding_side)
        gym.ObservationWrapper.__init__(self, env)
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        base = env.unwrapped
        tok = base.tokenizer
        self.padding_side = padding_side
        self.length = int(base.max_context)
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
        self.observation_space = spaces.Box(0, len(tok) - 1, (self.length,), np.int64)

    def observation(self, observation: Any) -> np.ndarray:
        ids = np.asarray(observation, dtype=np.int64)[: self.length]
        out = np.full(self.length, self.pad_id, dtype=np.int64)
        if self.padding_side == "right":
            out[: len(ids)] = ids
        elif len(ids):
            out[-len(ids) :] = ids
        return out
