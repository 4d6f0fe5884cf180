"""One token per step: the token-sequence env as a classic ``Discrete``-action RL env."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["TokenLevel"]


class TokenLevel(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Each step writes one token; the wrapper hands the turn to the env when it ends.

    ## Description

    Wraps a turn-level textgym env. The agent emits one token id per step. Tokens collect in
    a pending turn, which the observation already shows (marked as agent tokens). The turn is
    sent to the wrapped env when the agent writes a stop token (``<call>``, ``<submit>``,
    EOS), when it reaches ``max_turn_tokens``, or when the context would overflow; the tool
    response then appears in the next observation. Walking a turn token by token gives the
    same episode as sending it whole.

    ## Action Space

    ``Discrete(V)``: one token id. An integer outside ``[0, V)`` becomes the unknown token
    (``info["invalid_ids"] == 1``), as in the turn-level env.

    ## Observation Space

    ``Dict`` of three arrays of length ``window`` (default ``max_context``), left-padded, the
    most recent tokens last:

    - ``tokens``: ``Box(0, V-1, (window,), int64)``, padding is the pad token;
    - ``agent_mask``: ``MultiBinary(window)``, 1 on agent-written tokens (pending turn too);
    - ``attention_mask``: ``MultiBinary(window)``, 1 on real tokens, 0 on padding.

    Fixed shapes let SB3/CleanRL policies and shared-memory ``AsyncVectorEnv`` use it.
    When the context is longer than ``window``, the oldest tokens are cut.

    ## Rewards

    0 for every token that does not end a turn; a turn-ending token gets the wrapped env's
    reward for that turn (so the episode return is unchanged).

    ## Starting State

    As the wrapped env (``reset`` options pass through).

    ## Episode End

    As the wrapped env; ends only on turn-ending tokens.

    ## Arguments

    - ``env``: a textgym turn-level env (``gym.make("TextEnv-...")``).
    - ``window``: observation length in tokens; ``None`` means the env's ``max_context``.

    ## Version History

    - v0: initial release.
    """

    def __init__(self, env: gym.Env, window: int | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, window=window)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        for attr in ("tokenizer", "stop_token_ids", "max_context", "max_turn_tokens"):
            if not hasattr(base, attr):
                raise TypeError(f"TokenLevel wraps textgym envs; {base!r} has no {attr!r}")
        self.vocab_size = len(base.tokenizer)
        self.window = int(window if window is not None else base.max_context)
        if self.window < 1:
            raise ValueError(f"window must be positive, got {self.window}")
        self.stop_token_ids = frozenset(int(i) for i in base.stop_token_ids)
        self.max_turn_tokens = int(base.max_turn_tokens)
        self.max_context = int(base.max_context)
        tok = base.tokenizer
        self.pad_id = int(tok.pad_token_id if tok.pad_token_id is not None else 0)
        self.unk_id = int(tok.unk_token_id if tok.unk_token_id is not None else self.pad_id)
        self.action_space = spaces.Discrete(self.vocab_size)
        self.observation_space = spaces.Dict(
            {
                "tokens": spaces.Box(0, self.vocab_size - 1, (self.window,), np.int64),
                "agent_mask": spaces.MultiBinary(self.window),
                "attention_mask": spaces.MultiBinary(self.window),
            }
        )
        self._context = np.zeros(0, dtype=np.int64)
        self._context_mask = np.zeros(0, dtype=bool)
        self._pending: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._remember(obs, info)
        return self._observation(), info

    def step(self, action: Any):
        token, invalid = self._coerce(action)
        self._pending.append(token)
        ends_turn = (
            token in self.stop_token_ids
            or len(self._pending) >= self.max_turn_tokens
            or len(self._context) + len(self._pending) >= self.max_context
        )
        if not ends_turn:
            info = {"turn_tokens": len(self._pending), "invalid_ids": invalid}
            return self._observation(), 0.0, False, False, info
        turn = np.asarray(self._pending, dtype=np.int64)
        self._pending = []
        obs, reward, terminated, truncated, info = self.env.step(turn)
        self._remember(obs, info)
        info = dict(info, turn_tokens=len(turn), invalid_ids=invalid)
        return self._observation(), reward, terminated, truncated, info

    @property
    def pending_turn(self) -> np.ndarray:
        """The tokens of the unfinished turn."""
        return np.asarray(self._pending, dtype=np.int64)

    def _coerce(self, action: Any) -> tuple[int, int]:
        value = np.asarray(action)
        if value.size != 1 or value.dtype.kind not in "iub":
            raise TypeError(f"TokenLevel action must be one integer token id, got {action!r}")
        token = int(value.reshape(()))
        if 0 <= token < self.vocab_size:
            return token, 0
        return self.unk_id, 1

    def _remember(self, obs: np.ndarray, info: dict[str, Any]) -> None:
        self._pending = []
        self._context = np.asarray(obs, dtype=np.int64)
        self._context_mask = np.asarray(info["agent_mask"][: len(obs)], dtype=bool)

    def _observation(self) -> dict[str, np.ndarray]:
        pending = np.asarray(self._pending, dtype=np.int64)
        ids = np.concatenate([self._context, pending])[-self.window :]
        agent = np.concatenate([self._context_mask, np.ones(len(pending), bool)])[-self.window :]
        n = len(ids)
        tokens = np.full(self.window, self.pad_id, dtype=np.int64)
        agent_mask = np.zeros(self.window, dtype=np.int8)
        attention = np.zeros(self.window, dtype=np.int8)
        if n:
            tokens[-n:] = ids
            agent_mask[-n:] = agent
            attention[-n:] = 1
        return {"tokens": tokens, "agent_mask": agent_mask, "attention_mask": attention}
