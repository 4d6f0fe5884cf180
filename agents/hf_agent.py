"""``HFAgent``: a local Hugging Face causal LM, zero-shot, through text.

The model keeps its own tokenizer: each turn the context is decoded with the env's
tokenizer, re-encoded with the model's, and the model writes until it has written
``<call>`` or ``<submit>`` (as text: the model need not know the markers as tokens; when
its tokenizer does, as a textgym-trained model's does, the marker tokens stop it too). The
turn is then encoded with the env's tokenizer. So any local causal LM folder can be ranked
on any textgym env, as a zero-shot baseline.

The folder may be a model, a run or a checkpoint
(:func:`~textgym.agents.model_paths.resolve_model_dir`); the tokenizer is the model's, or
its run's (:func:`~textgym.agents.model_paths.resolve_tokenizer_dir`).
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from textgym.agents.model_paths import resolve_model_dir, resolve_tokenizer_dir
from textgym.agents.value_head import max_positions, quiet_transformers
from textgym.env_spec import text_env_spec
from textgym.tokenizer import CALL, SUBMIT, decode

__all__ = ["HFAgent", "cut_turn", "turn_text", "stop_marker_ids"]


def cut_turn(text: str) -> str:
    """``text`` up to and including its first ``<call>`` or ``<submit>`` (all of it if it
    has neither): the rest would be a hallucinated tool response."""
    ends = [i + len(m) for m in (CALL, SUBMIT) if (i := text.find(m)) >= 0]
    return text[: min(ends)] if ends else text


def stop_marker_ids(tokenizer) -> list[int]:
    """The ids of ``<call>`` and ``<submit>`` when ``tokenizer`` has them as tokens (a
    textgym tokenizer does), else ``[]``: the markers are then only text."""
    vocab = tokenizer.get_vocab()
    return [vocab[m] for m in (CALL, SUBMIT) if m in vocab]


def turn_text(tokenizer, ids, keep_ids=()) -> str:
    """Decode a generated turn without EOS/pad and other special tokens, but with the
    marker tokens in ``keep_ids``: ``skip_special_tokens=True`` would drop those too (a
    textgym tokenizer registers the markers as special tokens), and the turn would lose
    its ``<call>``."""
    drop = set(tokenizer.all_special_ids) - set(keep_ids)
    return tokenizer.decode([int(i) for i in ids if int(i) not in drop])


class HFAgent:
    """Greedy decoding with a local causal LM (deterministic, so the leaderboard cell is
    reproducible).

    Args:
        env: a textgym env.
        path: a local folder with a causal LM and its tokenizer (``save_pretrained``), or a
            run or checkpoint holding one; nothing is downloaded.
        max_new_tokens: model tokens per turn.
        context_window: model tokens of context kept (the newest); default the model's
            ``max_position_embeddings`` / ``n_positions`` less ``max_new_tokens``.
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | os.PathLike,
        *,
        max_new_tokens: int = 64,
        context_window: int | None = None,
    ):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.spec = text_env_spec(env, "HFAgent")
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
        model_dir = resolve_model_dir(path)
        # Checked before loading: without tokenizer files AutoTokenizer builds an empty
        # tokenizer, and generate() fails later on "stop string preprocessing".
        tokenizer_dir = resolve_tokenizer_dir(path)
        self.env = env
        with quiet_transformers():
            config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
            if getattr(config, "is_encoder_decoder", False):
                raise ValueError(
                    f"{str(model_dir)!r} is an encoder-decoder model; HFAgent runs causal LMs. "
                    f"Evaluate it with ppo:{path}"
                )
            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        config = self.model.config
        positions = max_positions(config)
        if context_window is None:
            context_window = (positions or 2048) - max_new_tokens
        if context_window < 1:
            raise ValueError(
                f"context_window {context_window}: the model has {positions} positions, too "
                f"few for max_new_tokens={max_new_tokens}"
            )
        self.context_window = context_window
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else self.tokenizer.eos_token_id
        self.marker_ids = stop_marker_ids(self.tokenizer)
        # Marker tokens end a turn like EOS does; stop_strings still catches markers that
        # the model spells out as text.
        eos = self.model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.stop_ids = eos + self.marker_ids or None

    def reset(self, seed: int | None = None) -> None:
        pass

    @torch.no_grad()
    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        context = decode(self.spec.tokenizer, obs)
        ids = self.tokenizer(context, add_special_tokens=False, return_tensors="pt").input_ids
        ids = ids[:, -self.context_window :]
        out = self.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            stop_strings=[CALL, SUBMIT],
            tokenizer=self.tokenizer,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        text = turn_text(self.tokenizer, out[0, ids.shape[1] :].tolist(), self.marker_ids)
        return self.spec.encode_turn(cut_turn(text))
