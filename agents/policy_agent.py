"""``PolicyAgent``: a trained (or any local) language model acting through the Agent
protocol: a causal LM or an encoder-decoder."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from textgym.agents.generation import sample_turns
from textgym.agents.value_head import ValueHeadLM
from textgym.env_spec import env_spec

__all__ = ["PolicyAgent"]


class PolicyAgent:
    """Acts with a language model: one sampled turn per step.

    Args:
        env: the env it plays (for the stop tokens, pad id and turn length).
        policy: a :class:`ValueHeadLM`, or a local folder: a model saved with
            ``save_pretrained`` (either architecture, or any causal LM), a PPO/SFT run, a
            checkpoint, or a folder of runs
            (:func:`~textgym.agents.model_paths.resolve_model_dir` says which model).
        temperature: 0 (default) decodes greedily; > 0 samples, seeded per episode.
        max_new_tokens: cap per turn; default (``None``) the env's ``max_turn_tokens``,
            so a turn the env accepts is never cut short (a Python program runs to
            hundreds of tokens). A larger value is capped at the env's.
    """

    def __init__(
        self,
        env: gym.Env,
        policy: ValueHeadLM | str | os.PathLike,
        *,
        temperature: float = 0.0,
        max_new_tokens: int | None = None,
        seed: int = 0,
    ):
        if not isinstance(policy, ValueHeadLM):
            policy = ValueHeadLM.from_pretrained(policy)
        self.spec = env_spec(env)
        if policy.model.get_input_embeddings().num_embeddings < self.spec.vocab_size:
            raise ValueError("the model's vocabulary is smaller than the env's; resize it")
        self.policy = policy
        self.temperature = temperature
        cap = self.spec.max_turn_tokens
        if max_new_tokens is not None and max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
        self.max_new_tokens = cap if max_new_tokens is None else min(max_new_tokens, cap)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.max_positions = policy.max_positions
        self._prompt_len = None

    def reset(self, seed: int | None = None) -> None:
        self._prompt_len: int | None = None
        self.generator.manual_seed(self.seed if seed is None else self.seed * 1_000_003 + seed)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        obs = np.asarray(obs)
        if self._prompt_len is None:
            # The first observation of an episode is its prompt, as in PPO's rollouts (an
            # encoder-decoder policy encodes it).
            self._prompt_len = len(obs)
        return sample_turns(
            self.policy,
            [obs],
            prompt_lengths=[self._prompt_len],
            stop_token_ids=self.spec.stop_token_ids,
            max_new_tokens=self.max_new_tokens,
            pad_id=self.spec.pad_id,
            generator=self.generator,
            temperature=self.temperature,
            max_positions=self.max_positions,
        )[0]
