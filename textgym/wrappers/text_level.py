"""Text in, text out: the token-sequence env for agents that speak strings."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from textgym.tokenizer import decode
from textgym.wrappers.text_space import AnyText

__all__ = ["TextLevel"]


class TextLevel(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Actions and observations as ``str``; the env still runs on tokens underneath.

    ## Description

    Each step the agent writes one turn as text, markers included, for example
    ``"<request><Calculator>12+3<call>"`` or ``"Result=15<submit>"``. The wrapper encodes it
    with the env's tokenizer (marker strings become marker tokens) and returns the decoded
    context. ``info["new_text"]`` holds the text appended since the agent's turn (the tool
    response), for agents that keep their own history.

    ## Action Space

    :class:`~textgym.wrappers.AnyText`: any string. Text past ``max_turn_tokens`` tokens is
    cut by the env (``info["turn_truncated"]``). A non-string action raises ``TypeError``.

    ## Observation Space

    :class:`~textgym.wrappers.AnyText`: the whole context as text, markers included.

    ## Rewards, Starting State, Episode End

    As the wrapped env.

    ## Arguments

    - ``env``: a textgym turn-level env.

    ## Version History

    - v0: initial release.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not hasattr(base, "encode_turn") or not hasattr(base, "tokenizer"):
            raise TypeError(f"TextLevel wraps textgym envs; {base!r} has no encode_turn")
        # A bound in characters: every token decodes to at most this many characters.
        longest = max((len(piece) for piece in base.tokenizer.get_vocab()), default=1)
        chars_per_token = max(4, longest)
        self.action_space = AnyText(base.max_turn_tokens * chars_per_token)
        self.observation_space = AnyText(base.max_context * chars_per_token)
        self._length = 0  # tokens in the context the agent has seen

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._length = len(obs)
        return self._decode(obs), info

    def step(self, action: Any):
        if not isinstance(action, str):
            raise TypeError(f"TextLevel actions are str, got {type(action).__name__}")
        base = self.env.unwrapped
        ids = base.encode_turn(action)
        # The agent's own turn, as the env will keep it, is not new text to the agent.
        kept = base.call_format.parse(ids[: base.max_turn_tokens]).ids
        seen = self._length + len(kept)
        obs, reward, terminated, truncated, info = self.env.step(ids)
        self._length = len(obs)
        info = dict(info, new_text=self._decode(obs[seen:]))
        return self._decode(obs), reward, terminated, truncated, info

    def _decode(self, ids: np.ndarray) -> str:
        return decode(self.env.unwrapped.tokenizer, ids)
