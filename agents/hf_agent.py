"""``HFAgent``: a local Hugging Face causal LM, zero-shot, through text.

The model keeps its own tokenizer: each turn the context is decoded with the env's
tokenizer, re-encoded with the model's, and the model writes until it has written
``<call>`` or ``<submit>`` (as text: the model need not know the markers as tokens; when
its tokenizer does, as a textgym-trained model's does, the marker tokens stop it too). The
turn is then encoded with the env's tokenizer. So any local causal LM folder can be ranked
on any textgym env, as a zero-shot baseline.

A model whose tokenizer has a chat template (and not the markers: a textgym-trained model
has them and plays the marker format it was trained on) is played in its own chat format
instead: the episode is rendered as messages with the env's tools as JSON schemas
(:class:`~textgym.agents.chat_bridge.ChatBridge`, ``apply_chat_template(..., tools=)``),
the model writes until its end-of-turn token, and a Hermes/Qwen ``<tool_call>{json}
</tool_call>`` block in its reply becomes the env's call, in the env's own tool format
(TRL's markers or the chat format).

The folder may be a model, a run or a checkpoint
(:func:`~textgym.agents.model_paths.resolve_model_dir`); the tokenizer is the model's, or
its run's (:func:`~textgym.agents.model_paths.resolve_tokenizer_dir`).
"""

from __future__ import annotations

import json
import os
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from textgym.agents.chat_bridge import ChatBridge, parse_hermes_reply
from textgym.agents.model_paths import resolve_model_dir, resolve_tokenizer_dir
from textgym.agents.value_head import max_positions, quiet_transformers
from textgym.env_spec import text_env_spec
from textgym.tokenizer import CALL, SUBMIT, decode

__all__ = ["HFAgent", "cut_turn", "turn_text", "stop_marker_ids", "end_of_turn_ids"]

#: Tokens per turn when ``max_new_tokens`` is not given: a marker turn is short; a JSON
#: tool call (a Python program in it, say) is longer.
DEFAULT_NEW_TOKENS = {"text": 64, "chat": 256}
#: The tags of a Hermes/Qwen tool call, kept when a generated turn is decoded.
TOOL_CALL_TAGS = ("<tool_call>", "</tool_call>")


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


def end_of_turn_ids(tokenizer) -> list[int]:
    """The ids that end an assistant turn in ``tokenizer``'s chat template (ChatML's
    ``<|im_end|>``, Llama 3's ``<|eot_id|>``, Gemma's ``<end_of_turn>``), and EOS.

    Found by rendering a short reply and reading the special token that follows it, so
    no list of template conventions is needed."""
    ids = [] if tokenizer.eos_token_id is None else [int(tokenizer.eos_token_id)]
    probe = "qzxjv"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": probe}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception:  # noqa: BLE001 - jinja2 errors, or a template that refuses
        # these probe messages: only means no end-of-turn token is known beyond EOS.
        text = ""
    after = text.split(probe, 1)[1] if isinstance(text, str) and probe in text else ""
    first = tokenizer.encode(after, add_special_tokens=False)[:1]
    special = set(tokenizer.all_special_ids) | set(tokenizer.added_tokens_decoder)
    return ids + [int(i) for i in first if i in special and i not in ids]


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
        max_new_tokens: model tokens per turn; default 64 in the marker format, 256 in the
            chat format.
        context_window: model tokens of context kept (the newest); default the model's
            ``max_position_embeddings`` / ``n_positions`` less ``max_new_tokens``.
        chat: play the model's chat format (True), the marker format as text (False), or
            (None, default) chat when its tokenizer has a chat template and no markers.
    """

    def __init__(
        self,
        env: gym.Env,
        path: str | os.PathLike,
        *,
        max_new_tokens: int | None = None,
        context_window: int | None = None,
        chat: bool | None = None,
    ):
        self.spec = text_env_spec(env, "HFAgent")
        if max_new_tokens is not None and max_new_tokens < 1:
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
        self.marker_ids = stop_marker_ids(self.tokenizer)
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        if chat is None:
            chat = has_template and not self.marker_ids
        elif chat and not has_template:
            raise ValueError(
                f"chat=True, but the tokenizer in {str(tokenizer_dir)!r} has no chat template"
            )
        self.bridge = ChatBridge(env, "HFAgent") if chat else None
        if max_new_tokens is None:
            max_new_tokens = DEFAULT_NEW_TOKENS["chat" if chat else "text"]
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
        # Marker tokens end a turn like EOS does; stop_strings still catches markers that
        # the model spells out as text.
        eos = self.model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        self.stop_ids = eos + self.marker_ids or None
        if chat:
            # The chat turn ends at the template's end-of-turn token (or EOS).
            self.stop_ids = list(dict.fromkeys(eos + end_of_turn_ids(self.tokenizer))) or None
            vocab = self.tokenizer.get_vocab()
            self.keep_ids = [vocab[tag] for tag in TOOL_CALL_TAGS if tag in vocab]

    def reset(self, seed: int | None = None) -> None:
        if self.bridge is not None:
            self.bridge.reset()

    @torch.no_grad()
    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self.bridge is not None:
            return self._act_chat(obs, info)
        context = decode(self.spec.tokenizer, obs)
        ids = self.tokenizer(context, add_special_tokens=False, return_tensors="pt").input_ids
        ids = ids[:, -self.context_window :].to(self.model.device)
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

    def _act_chat(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        assert self.bridge is not None
        ids = self.tokenizer.apply_chat_template(
            [_for_template(m) for m in self.bridge.messages(obs, info)],
            tools=self.bridge.tool_schemas,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            # Special tokens inside the env's text (a tool response holding "<|im_end|>")
            # stay text: only the template writes control tokens.
            sanitize_control_tokens=True,
        )["input_ids"]
        # The newest tokens, as in the marker path: the model has a position limit.
        ids = ids[:, -self.context_window :].to(self.model.device)
        out = self.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            # Only the first call is used; stopping after it saves the rest.
            stop_strings=[TOOL_CALL_TAGS[1]],
            tokenizer=self.tokenizer,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
        )
        text = turn_text(self.tokenizer, out[0, ids.shape[1] :].tolist(), self.keep_ids)
        return self.bridge.action(parse_hermes_reply(text))


def _for_template(message: dict[str, Any]) -> dict[str, Any]:
    """A bridge message for a chat template: call arguments as a dict where they are a
    JSON object: many templates apply ``tojson`` to them, which would quote a string
    twice."""
    calls = message.get("tool_calls")
    if not calls:
        return message
    fixed = []
    for call in calls:
        function = dict(call["function"])
        try:
            arguments = json.loads(function["arguments"])
        except (json.JSONDecodeError, RecursionError):
            arguments = None
        if isinstance(arguments, dict):
            function["arguments"] = arguments
        fixed.append({**call, "function": function})
    return {**message, "tool_calls": fixed}
