"""``ValueHeadLM``: a causal language model with a scalar value head.

The successor of TRL's ``AutoModelForCausalLMWithValueHead``: one forward pass returns both
the next-token logits and the value of every prefix, from the last hidden state. It saves
and loads with safetensors, value head included, and needs no hub: the default policy is a
small GPT-2 built from a config.
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    GPT2Config,
    LlamaConfig,
    PreTrainedModel,
)
from transformers.utils import logging as hf_logging

from textgym.agents.devices import autocast, module_device
from textgym.agents.kv_reuse import broadcast_cache, shared_prefix_length
from textgym.agents.lora import adapter_path, plain_state_dict
from textgym.agents.model_paths import resolve_model_dir
from textgym.agents.padding import CALL_COST_TOKENS, length_groups
from textgym.agents.ppo_math import entropy_from_logits, tempered, token_logprobs

__all__ = ["ValueHeadLM", "tiny_gpt2_config", "tiny_llama_config"]

#: Value-head classes by architecture, beyond this module's causal one.
_ARCHITECTURES: dict[str, type] = {}

VALUE_HEAD_FILE = "value_head.safetensors"
META_FILE = "textgym_value_head.json"


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' per-file progress bars for tiny local checkpoints, then restore
    the user's setting."""
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def tiny_gpt2_config(
    vocab_size: int,
    *,
    n_layer: int = 2,
    n_embd: int = 128,
    n_head: int = 4,
    n_positions: int = 1024,
    eos_token_id: int = 1,
    pad_token_id: int = 0,
) -> GPT2Config:
    """A small GPT-2 config for CPU training. Dropout is off: rollouts and the PPO loss
    must score tokens under the same distribution (TRL sampled with dropout on after a
    PPO step left the model in train mode)."""
    return GPT2Config(
        vocab_size=vocab_size,
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )


def tiny_llama_config(
    vocab_size: int,
    *,
    n_layer: int = 2,
    n_embd: int = 128,
    n_head: int = 4,
    n_positions: int = 1024,
    eos_token_id: int = 1,
    pad_token_id: int = 0,
) -> LlamaConfig:
    """A small Llama config (rotary positions, RMSNorm, SwiGLU): the layout of today's
    instruct models. Rotary positions are relative, so copying a digit string from a
    tool response is the same operation wherever the string sits in the context; GPT-2's
    learned absolute positions must learn it at every offset. Dropout is off, as in
    :func:`tiny_gpt2_config`."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=n_embd,
        intermediate_size=4 * n_embd,
        num_hidden_layers=n_layer,
        num_attention_heads=n_head,
        num_key_value_heads=n_head,
        max_position_embeddings=n_positions,
        attention_dropout=0.0,
        tie_word_embeddings=True,
        bos_token_id=eos_token_id,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
    )


#: Config attributes that hold a model's position limit, in the order they are read:
#: GPT-2's ``n_positions``; Llama's, Qwen2's, Mistral's ``max_position_embeddings``;
#: older GPT-style ``n_ctx``; MPT/Falcon-style ``max_seq_len`` and ``seq_length``.
POSITION_LIMIT_KEYS = (
    "n_positions",
    "max_position_embeddings",
    "n_ctx",
    "max_seq_len",
    "seq_length",
)


def max_positions(config: Any) -> int | None:
    """The most token positions a model config allows (:data:`POSITION_LIMIT_KEYS`); None
    when the config gives no limit (T5's relative positions). A composite config (a
    vision-language model) is read through its text config. The one reading of it, for
    every agent that cuts contexts to fit."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    for key in POSITION_LIMIT_KEYS:
        limit = getattr(config, key, None)
        if isinstance(limit, int) and limit > 0:
            return limit
    return None


class ValueHeadLM(nn.Module):
    """A causal LM plus a linear value head on its last hidden state.

    Args:
        model: any ``transformers`` causal LM (``AutoModelForCausalLM``).

    :class:`~textgym.agents.seq2seq_value_head.Seq2SeqValueHeadLM` is the encoder-decoder
    sibling; both offer :meth:`score_tokens`, the one call PPO and SFT make.
    """

    #: How checkpoints of this class are built and loaded.
    auto_class = AutoModelForCausalLM
    is_encoder_decoder = False
    #: The LM's forward passes run under autocast at this dtype (None: float32); set by
    #: :func:`textgym.agents.devices.place`. Weights and the value head stay float32.
    autocast_dtype: torch.dtype | None = None

    @staticmethod
    def register_architecture(name: str, cls: type[ValueHeadLM]) -> None:
        """Let :meth:`from_pretrained` return ``cls`` for folders of architecture ``name``
        (the encoder-decoder sibling registers itself, so this module need not import
        it)."""
        _ARCHITECTURES[name] = cls

    def __init__(self, model: PreTrainedModel):
        super().__init__()
        self.model = model
        hidden = getattr(model.config, "hidden_size", None) or model.config.n_embd
        self.v_head = nn.Linear(hidden, 1)
        # A zero-initialised head starts every value at 0 instead of at noise.
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    @classmethod
    def from_config(cls, config, *, seed: int = 0) -> ValueHeadLM:
        """A freshly initialised model; ``seed`` makes the initial weights reproducible
        without touching the global RNG."""
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            return cls(cls.auto_class.from_config(config))
        finally:
            torch.random.set_rng_state(state)

    @property
    def config(self):
        return self.model.config

    @property
    def device(self) -> torch.device:
        """Where the weights are: every tensor a step makes for this model goes there."""
        return module_device(self)

    @property
    def max_positions(self) -> int | None:
        """The longest sequence the model takes (:func:`max_positions` of its config)."""
        return max_positions(self.config)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values=None,
        use_cache: bool = False,
    ):
        """Returns ``(logits, values, past_key_values)``; ``values[:, t]`` is the value of
        the prefix ending at ``t`` (the state in which token ``t + 1`` is chosen)."""
        return self._with_values(
            "hidden_states",
            past_key_values,
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
        )

    def _with_values(self, hidden_key: str, past_key_values, **inputs):
        """Run the LM, then the value head on the last of ``out[hidden_key]``."""
        cache_name = self._cache_argument()
        with autocast(self.device, self.autocast_dtype):
            out = self.model(output_hidden_states=True, **inputs, **{cache_name: past_key_values})
        # The value head runs outside autocast, in float32 (a no-op cast at float32).
        values = self.v_head(out[hidden_key][-1].float()).squeeze(-1)
        return out.logits, values, out.get(cache_name)

    def score_tokens(
        self,
        ids: torch.Tensor,
        attention: torch.Tensor,
        prompt_lengths: torch.Tensor | None = None,
        *,
        with_entropy: bool = False,
        entropy_grad: bool = True,
        share_prefix: bool = True,
        split_by_length: bool = True,
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Per-token log-probs, values and (optionally) entropies of right-padded episodes,
        each aligned with the token it scores: ``logp[b, t] = log pi(x_t | x_<t)`` and
        ``v[b, t]`` is the value of the state in which ``x_t`` was chosen.

        ``share_prefix``: the tokens every row starts with (the system prompt; a group's
        whole prompt) run once, as a batch of one, and their keys and values serve every
        row (:func:`~textgym.agents.kv_reuse.shared_prefix_length`). Exact, gradients
        included. Where sharing saves too little (rows that share nothing or a few tokens,
        a batch of one, padding inside the prefix), the rows run as one plain batch.

        ``split_by_length``: right-padded rows of very different lengths run in groups,
        each padded to its own longest (:func:`~textgym.agents.padding.length_groups`),
        when that costs fewer token positions than padding every row to the longest.
        Exact as well.

        ``prompt_lengths`` is unused here (a causal LM reads the prompt as ordinary
        context); the encoder-decoder model needs it to split prompt from continuation.

        ``entropy_grad=False`` computes the entropy outside the autograd graph: with no
        entropy bonus it is only a logged stat, and backpropagating a zero-weighted
        full-vocab softmax through every token cost about a sixth of the PPO update.

        ``temperature``: the log-probs and entropies are those of ``softmax(logits / T)``,
        the distribution :func:`~textgym.agents.generation.sample_turns` draws from at
        that temperature, so PPO's ratios and KL stay on the policy that sampled."""
        n, width = ids.shape
        lengths = attention.sum(1)
        shared = shared_prefix_length(ids, attention) if share_prefix else 0
        options = {
            "with_entropy": with_entropy,
            "entropy_grad": entropy_grad,
            "temperature": temperature,
        }
        columns = torch.arange(width, device=ids.device)
        right_padded = bool((attention == (columns[None] < lengths[:, None])).all())
        if split_by_length and n > 2 and right_padded:
            groups = length_groups((lengths - shared).tolist(), CALL_COST_TOKENS + shared)
            if len(groups) > 1:
                return self._score_in_groups(ids, attention, groups, share_prefix, options)
        if shared == 0:
            return self._score_plain(ids, attention, **options)
        return self._score_with_shared_prefix(ids, attention, shared, **options)

    def _score_plain(self, ids, attention, *, with_entropy, entropy_grad, temperature):
        """One forward pass over the whole batch."""
        positions = torch.arange(ids.shape[1], device=ids.device).expand_as(ids)
        logits, values, _ = self(ids, attention_mask=attention, position_ids=positions)
        logits = tempered(logits, temperature)
        # values[:, t] is V(prefix up to t), the state in which token t + 1 is chosen.
        v = F.pad(values[:, :-1].float(), (1, 0))
        entropy = None
        if with_entropy:
            entropy = entropy_from_logits(logits if entropy_grad else logits.detach())
        return token_logprobs(logits, ids), v, entropy

    def _score_with_shared_prefix(
        self, ids, attention, shared, *, with_entropy, entropy_grad, temperature
    ):
        """The first ``shared`` tokens (the same in every row) once, as a batch of one;
        then every row's own tokens, attending to the prefix's broadcast keys and values."""
        n, width = ids.shape
        positions = torch.arange(width, device=ids.device).expand(n, width)
        head_logits, head_values, cache = self(
            ids[:1, :shared],
            attention_mask=attention[:1, :shared],
            position_ids=positions[:1, :shared],
            use_cache=True,
        )
        tail_logits, tail_values, _ = self(
            ids[:, shared:],
            attention_mask=attention,
            position_ids=positions[:, shared:],
            past_key_values=broadcast_cache(cache, n),
            use_cache=True,
        )
        head_logits = tempered(head_logits, temperature)
        tail_logits = tempered(tail_logits, temperature)
        # Token t is scored by the logits at t - 1: tokens 1..shared-1 by the prefix's own
        # logits (the same in every row), token `shared` by the prefix's last logits and
        # the row's own id, the rest by the row's tail.
        last = torch.log_softmax(head_logits[0, -1].float(), -1)
        logp = torch.cat(
            [
                token_logprobs(head_logits, ids[:1, :shared]).expand(n, shared),
                last[ids[:, shared]][:, None],
                token_logprobs(tail_logits, ids[:, shared:])[:, 1:],
            ],
            dim=1,
        )
        values = torch.cat([head_values.expand(n, shared), tail_values], dim=1)
        v = F.pad(values[:, :-1].float(), (1, 0))
        entropy = None
        if with_entropy:
            if not entropy_grad:
                head_logits, tail_logits, last = (
                    t.detach() for t in (head_logits, tail_logits, last)
                )
            entropy = torch.cat(
                [
                    entropy_from_logits(head_logits).expand(n, shared),
                    (-(last.exp() * last).sum()).expand(n, 1),
                    entropy_from_logits(tail_logits)[:, 1:],
                ],
                dim=1,
            )
        return logp, v, entropy

    def _score_in_groups(self, ids, attention, groups, share_prefix, options):
        """Each group of rows cut to its own longest and scored apart (its own shared
        prefix included), then padded back to the batch's width in the rows' order."""
        width = ids.shape[1]
        lengths = attention.sum(1)
        parts = []
        for rows in groups:
            w = int(lengths[rows].max())
            part = self.score_tokens(
                ids[rows, :w],
                attention[rows, :w],
                share_prefix=share_prefix,
                split_by_length=False,
                **options,
            )
            parts.append([None if t is None else F.pad(t, (0, width - w)) for t in part])
        ran = torch.tensor([r for rows in groups for r in rows], device=ids.device)
        back = torch.argsort(ran)
        return tuple(None if ts[0] is None else torch.cat(ts)[back] for ts in zip(*parts))

    def _cache_argument(self) -> str:
        # transformers 5.24 renamed ``past_key_values`` to ``cache``; accept both.
        name = getattr(self, "_cache_name", None)
        if name is None:
            forward = inspect.signature(self.backbone.forward).parameters
            name = self._cache_name = "cache" if "cache" in forward else "past_key_values"
        return name

    @property
    def backbone(self) -> PreTrainedModel:
        """The transformers model itself, under any peft wrapper."""
        return self.model.get_base_model() if self.has_adapters else self.model

    @property
    def has_adapters(self) -> bool:
        """Whether the LM carries peft adapters (:func:`textgym.agents.lora.add_lora`)."""
        return hasattr(self.model, "disable_adapter") and hasattr(self.model, "peft_config")

    @contextmanager
    def adapters_disabled(self) -> Iterator[ValueHeadLM]:
        """This model with its adapters off: the frozen base, used as the KL reference
        without a second copy of the weights."""
        if not self.has_adapters:
            raise ValueError("this policy has no adapters to disable")
        with self.model.disable_adapter():
            yield self

    def resize_token_embeddings(self, size: int, *, seed: int = 0) -> None:
        """Grow the vocabulary (e.g. after adding the protocol markers). transformers
        draws the new rows from torch's global RNG (around the mean of the old ones), so
        the same model once gave other marker embeddings in each process; here ``seed``
        fixes them and the global RNG is left as it was. A tied output layer stays tied."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model.resize_token_embeddings(size)

    def frozen_copy(self) -> ValueHeadLM:
        """A frozen deep copy, the KL reference."""
        ref = copy.deepcopy(self)
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Save the LM (``save_pretrained``, safetensors) and the value head beside it.

        A policy with adapters saves its merged weights, so the folder loads anywhere
        without peft, and the adapters themselves in ``adapter/``."""
        if self.has_adapters:
            self.write(path, plain_state_dict(self, merge=True))
            self.model.save_pretrained(str(adapter_path(path)))
        else:
            self.write(path)

    def write(self, path: str | os.PathLike, lm_state_dict: dict | None = None) -> None:
        """Write the folder :meth:`from_pretrained` reads: the LM's weights (its own, or
        ``lm_state_dict``, e.g. the base under LoRA adapters), the value head and a
        metadata file."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.backbone.save_pretrained(path, state_dict=lm_state_dict, safe_serialization=True)
        save_file(
            {k: v.contiguous() for k, v in self.v_head.state_dict().items()},
            str(path / VALUE_HEAD_FILE),
        )
        meta = {"format": 1, "value_head": VALUE_HEAD_FILE, "architecture": self.architecture}
        (path / META_FILE).write_text(json.dumps(meta))

    @property
    def architecture(self) -> str:
        """The ``arch`` name :func:`~textgym.agents.train.make_policy` builds this kind of
        model from: ``seq2seq`` (T5), ``llama`` or ``causal`` (GPT-2 and every other
        decoder). Run records keep it, so a resumed ``--arch llama`` run matches."""
        if self.is_encoder_decoder:
            return "seq2seq"
        return "llama" if self.backbone.config.model_type == "llama" else "causal"

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> ValueHeadLM:
        """Load a local checkpoint. A plain LM folder (no value head) gets a new,
        zero-initialised head. ``ValueHeadLM.from_pretrained`` of an encoder-decoder folder
        returns a :class:`~textgym.agents.seq2seq_value_head.Seq2SeqValueHeadLM`, so every
        loader of policies takes both.

        ``path`` may also be a run, a checkpoint or a folder of runs: the model in it is
        found by :func:`~textgym.agents.model_paths.resolve_model_dir` (a folder with a
        ``config.json`` is used as it is)."""
        path = resolve_model_dir(path)
        if cls is ValueHeadLM and _is_encoder_decoder(path):
            return _ARCHITECTURES["seq2seq"].from_pretrained(path)
        with quiet_transformers():
            model = cls.auto_class.from_pretrained(path, local_files_only=True)
        out = cls(model)
        head = path / VALUE_HEAD_FILE
        if head.exists():
            out.v_head.load_state_dict(load_file(str(head)))
        return out


def _is_encoder_decoder(path: Path) -> bool:
    with quiet_transformers():
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    return bool(getattr(config, "is_encoder_decoder", False))
