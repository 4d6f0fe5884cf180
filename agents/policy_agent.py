"""``PolicyAgent``: a trained (or any local) language model acting through the Agent
protocol: a causal LM or an encoder-decoder."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from textgym.agents.devices import place
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
        device, dtype: where and in which precision the model runs
            (:mod:`textgym.agents.devices`); default (``None``) a model given as an object
            stays where it is, one loaded from a folder goes to the CPU at float32.
    """

    def __init__(
        self,
        env: gym.Env,
        policy: ValueHeadLM | str | os.PathLike,
        *,
        temperature: float = 0.0,
        max_new_tokens: int | None = None,
        seed: int = 0,
        device: str | None = None,
        dtype: str | None = None,
    ):
        if not isinstance(policy, ValueHeadLM):
            policy = ValueHeadLM.from_pretrained(policy)
            device = device or "cpu"
        if device is not None or dtype is not None:
            place(policy, device or policy.device, dtype or "float32")
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
        # Sampling happens on the model's device, so its generator lives there too.
        self.generator = torch.Generator(device=policy.device).manual_seed(seed)
        self.max_positions = policy.max_positions
        self._prompt_len = None

    def to(self, device: str, dtype: str = "float32") -> PolicyAgent:
        """Move the model to ``device`` at ``dtype`` (:func:`~textgym.agents.devices.place`)
        and its sampling generator with it; returns the agent."""
        place(self.policy, device, dtype)
        self.generator = torch.Generator(device=self.policy.device).manual_seed(self.seed)
        return self

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
