"""What an agent may rely on from an env: the token-sequence contract, read in one place.

Every agent (the PPO trainer, the policy and text agents, the model builder) reads the env
through :func:`env_spec`, never through ``env.unwrapped``: the attributes are looked up
with ``get_wrapper_attr`` (so a wrapper may override them) on a single env or on the first
env of a vector env. An env that follows the contract has:

- ``tokenizer``: its tokenizer, a ``transformers`` tokenizer with the markers;
- a ``Sequence(Discrete(V))`` action space: ``V`` is the vocabulary;
- ``stop_token_ids``: the ids that end an agent turn;
- ``max_turn_tokens`` (optional, default 256): the longest turn it keeps;
- ``max_context`` (optional): the longest episode in tokens;
- ``encode_turn(text)`` (optional): agent text with markers to an action;
- ``tool_format`` (optional, default "markers"): how turns are written, TRL's markers or
  "chat" (the tokenizer's chat template; turns end at its end-of-turn token, which is in
  ``stop_token_ids``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["DEFAULT_MAX_TURN_TOKENS", "EnvSpec", "env_spec", "text_env_spec"]

#: ``max_turn_tokens`` of an env that does not say.
DEFAULT_MAX_TURN_TOKENS = 256


@dataclass(frozen=True)
class EnvSpec:
    """What an agent needs to know about an env (see the module docstring).

    Attributes:
        vocab_size: ``V`` of the ``Sequence(Discrete(V))`` action space.
        stop_token_ids: the ids that end a turn.
        pad_id: the tokenizer's pad id (0 when it has none), for batching episodes.
        max_turn_tokens: the longest turn the env keeps.
        max_context: the longest episode in tokens, or None when the env does not say.
        tokenizer: the env's tokenizer.
        encode_turn: agent text to an action; None for a vector env (its method lives in
            each worker) or an env without it.
        tool_format: "markers" or "chat" (see :mod:`textgym.chat_format`).
    """

    vocab_size: int
    stop_token_ids: tuple[int, ...]
    pad_id: int
    max_turn_tokens: int
    max_context: int | None = None
    tokenizer: Any = field(default=None, compare=False, repr=False)
    encode_turn: Callable[[str], np.ndarray] | None = field(default=None, compare=False, repr=False)
    tool_format: str = "markers"


def env_spec(envs: gym.Env | gym.vector.VectorEnv) -> EnvSpec:
    """Read the contract from a single env or a vector env.

    Raises:
        TypeError: when the action space is not ``Sequence(Discrete(V))``.
    """
    vector = isinstance(envs, gym.vector.VectorEnv)
    if vector:
        space = envs.single_action_space
        # call("get_wrapper_attr", name), not get_attr: get_attr calls callables, and a
        # tokenizer is callable.
        get = lambda name: envs.call("get_wrapper_attr", name)[0]  # noqa: E731
    else:
        space = envs.action_space
        get = lambda name: envs.get_wrapper_attr(name)  # noqa: E731
    feature = getattr(space, "feature_space", None)
    if not isinstance(feature, gym.spaces.Discrete):
        raise TypeError(
            f"the agent needs a Sequence(Discrete(V)) action space, got {space}; "
            "see the token-sequence contract in the README"
        )

    def optional(name: str) -> Any:
        try:
            return get(name)
        except AttributeError:
            return None

    tokenizer = get("tokenizer")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    max_turn = optional("max_turn_tokens")
    max_context = optional("max_context")
    tool_format = optional("tool_format")
    return EnvSpec(
        vocab_size=int(feature.n),
        stop_token_ids=tuple(int(i) for i in get("stop_token_ids")),
        pad_id=int(pad),
        max_turn_tokens=DEFAULT_MAX_TURN_TOKENS if max_turn is None else int(max_turn),
        max_context=None if max_context is None else int(max_context),
        tokenizer=tokenizer,
        encode_turn=None if vector else optional("encode_turn"),
        tool_format="markers" if tool_format is None else str(tool_format),
    )


def text_env_spec(env: gym.Env, agent: str) -> EnvSpec:
    """:func:`env_spec` of an env a text agent can play: one with a tokenizer and
    ``encode_turn``. ``agent`` names the agent in the error.

    Raises:
        TypeError: for any other env.
    """
    try:
        spec = env_spec(env)
    except (AttributeError, TypeError):
        spec = None
    if spec is None or spec.encode_turn is None:
        raise TypeError(f"{agent} needs a textgym env; {env.unwrapped!r} has no encode_turn")
    return spec
