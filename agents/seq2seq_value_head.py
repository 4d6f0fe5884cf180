"""``Seq2SeqValueHeadLM``: an encoder-decoder language model with a scalar value head.

The successor of TRL's ``AutoModelForSeq2SeqLMWithValueHead``, fitted to multi-turn
episodes. An episode is ``prompt + continuation``: the prompt (the reset observation) goes
through the encoder once, and everything after it (agent turns *and* tool responses) is the
decoder's sequence. Tool responses are then ordinary decoder context, exactly as they are
for a causal LM, and the agent mask picks the actions out of the decoder positions. The
value head reads the decoder's last hidden state.

This keeps the token-sequence contract unchanged: PPO, SFT and evaluation hand the model
whole right-padded episodes plus each episode's prompt length, and get back log-probs and
values aligned with the episode's tokens (:meth:`Seq2SeqValueHeadLM.score_tokens`).

The default is a tiny T5 from a config, over the envs' ByT5 tokenizer (pad 0, EOS 1,
decoder start = pad, as in T5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import AutoModelForSeq2SeqLM, T5Config
from transformers.modeling_outputs import BaseModelOutput

from textgym.agents.devices import autocast
from textgym.agents.padding import left_pad, right_pad
from textgym.agents.ppo_math import tempered
from textgym.agents.value_head import ValueHeadLM

__all__ = ["Seq2SeqValueHeadLM", "Seq2SeqDecoding", "tiny_t5_config"]


def tiny_t5_config(
    vocab_size: int,
    *,
    d_model: int = 128,
    num_layers: int = 2,
    num_heads: int = 4,
    d_ff: int = 256,
    eos_token_id: int = 1,
    pad_token_id: int = 0,
) -> T5Config:
    """A small T5 for CPU training. Dropout is off, for the reason given in
    :func:`~textgym.agents.value_head.tiny_gpt2_config`. T5's relative position buckets
    need no position table, so contexts have no fixed limit."""
    return T5Config(
        vocab_size=vocab_size,
        d_model=d_model,
        d_kv=d_model // num_heads,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        num_heads=num_heads,
        dropout_rate=0.0,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        decoder_start_token_id=pad_token_id,
    )


class Seq2SeqValueHeadLM(ValueHeadLM):
    """An encoder-decoder LM (``AutoModelForSeq2SeqLM``) plus a linear value head on the
    decoder's last hidden state. Saves, loads and copies like :class:`ValueHeadLM`."""

    auto_class = AutoModelForSeq2SeqLM
    is_encoder_decoder = True

    @property
    def decoder_start_token_id(self) -> int:
        start = self.config.decoder_start_token_id
        return int(start if start is not None else self.config.pad_token_id or 0)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> BaseModelOutput:
        with autocast(self.device, self.autocast_dtype):
            return self.model.get_encoder()(input_ids=input_ids, attention_mask=attention_mask)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        decoder_input_ids: torch.Tensor,
        decoder_attention_mask: torch.Tensor,
        encoder_outputs: BaseModelOutput | None = None,
        past_key_values=None,
        use_cache: bool = False,
    ):
        """Returns ``(logits, values, past_key_values)`` over the decoder positions;
        ``values[:, j]`` is the value of the state in which decoder token ``j`` is chosen
        (its input is token ``j - 1``, or the start token)."""
        return self._with_values(
            "decoder_hidden_states",
            past_key_values,
            input_ids=input_ids if encoder_outputs is None else None,
            attention_mask=attention_mask,
            decoder_input_ids=decoder_input_ids,
            decoder_attention_mask=decoder_attention_mask,
            encoder_outputs=encoder_outputs,
            use_cache=use_cache,
        )

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
    ):
        """As :meth:`ValueHeadLM.score_tokens`; the first ``prompt_lengths[b]`` tokens of
        row ``b`` are encoded and the rest decoded. Prompt and padding positions get 0.

        ``share_prefix`` and ``split_by_length`` are accepted and have no effect here.
        The encoder is bidirectional, so the states of a shared system prompt depend on
        the question after it and cannot be computed once for all rows. Each prompt is
        encoded once per pass (never per token or per turn), and the decoder reads it only
        through cross-attention."""
        if prompt_lengths is None:
            raise ValueError("an encoder-decoder policy needs each episode's prompt length")
        n, width = ids.shape
        device = ids.device
        prompts = torch.as_tensor(prompt_lengths, device=device).long()
        lengths = attention.sum(1).long()
        decoded = (lengths - prompts).clamp(min=0)
        # Episodes are right-padded and start with their prompt: the encoder input is the
        # leading columns, masked past each prompt.
        enc_width = max(int(prompts.max()), 1)
        columns = torch.arange(enc_width, device=device)
        in_prompt = columns[None] < prompts[:, None]
        pad = int(self.config.pad_token_id or 0)
        enc_ids = torch.where(in_prompt, ids[:, :enc_width], pad)
        enc_mask = in_prompt.long()
        enc_mask[:, 0] = 1  # an empty prompt still gives the encoder one (pad) token
        # Decoder targets: token prompt + j of each row; inputs: the start token, then the
        # targets shifted right.
        dec_width = max(int(decoded.max()), 1)
        j = torch.arange(dec_width, device=device)
        source = prompts[:, None] + j[None]
        valid = j[None] < decoded[:, None]
        targets = ids.gather(1, source.clamp(max=width - 1)) * valid
        start = torch.full((n, 1), self.decoder_start_token_id, dtype=ids.dtype, device=device)
        dec_in = torch.cat([start, targets[:, :-1]], dim=1)
        dec_mask = (j[None] < decoded.clamp(min=1)[:, None]).long()
        logits, values, _ = self(
            enc_ids,
            attention_mask=enc_mask,
            decoder_input_ids=dec_in,
            decoder_attention_mask=dec_mask,
        )
        log_probs = torch.log_softmax(tempered(logits.float(), temperature), dim=-1)
        logp_dec = log_probs.gather(-1, targets[..., None]).squeeze(-1)
        # Scatter decoder positions back to episode positions; invalid ones land in spare
        # columns past the end and are cut off.
        index = torch.where(valid, source, width + j[None])

        def to_episode(x: torch.Tensor) -> torch.Tensor:
            full = x.new_zeros((n, width + dec_width))
            return full.scatter(1, index, x * valid)[:, :width]

        logp, v = to_episode(logp_dec), to_episode(values.float())
        entropy = None
        if with_entropy:
            lp = log_probs if entropy_grad else log_probs.detach()
            entropy = to_episode(-(lp.exp() * lp).sum(-1))
        return logp, v, entropy


class Seq2SeqDecoding:
    """Incremental decoding state for :func:`~textgym.agents.generation.sample_turns`:
    each turn encodes the prompts once, feeds each row's continuation so far left-padded to the
    decoder, then one token per step with the decoder's self- and cross-attention cache.
    (Nothing is kept from one turn to the next.)
    Left padding is safe for T5: its relative position bias depends only on distances,
    which padding does not change, and padded keys are masked."""

    def __init__(
        self,
        model: Seq2SeqValueHeadLM,
        contexts: Sequence[np.ndarray],
        prompt_lengths: Sequence[int],
        pad_id: int,
    ):
        self.model = model
        prompts = [c[: int(p)] for c, p in zip(contexts, prompt_lengths)]
        # Right-padded prompts (an empty one still gives the encoder one pad token).
        enc_ids, self.enc_mask = right_pad(
            prompts, pad_id, device=model.device, width=max(max(len(p) for p in prompts), 1)
        )
        self.enc_mask[:, 0] = 1
        self.encoded = model.encode(enc_ids, self.enc_mask)
        start = model.decoder_start_token_id
        decoder_inputs = [
            np.concatenate([[start], c[int(p) :]]).astype(np.int64)
            for c, p in zip(contexts, prompt_lengths)
        ]
        dec_ids, self.dec_mask, _ = left_pad(decoder_inputs, pad_id, device=model.device)
        logits, _, self.cache = model(
            None,
            attention_mask=self.enc_mask,
            decoder_input_ids=dec_ids,
            decoder_attention_mask=self.dec_mask,
            encoder_outputs=self.encoded,
            use_cache=True,
        )
        self.next_logits = logits[:, -1]

    def select(self, keep: torch.Tensor) -> None:
        self.enc_mask, self.dec_mask = self.enc_mask[keep], self.dec_mask[keep]
        self.encoded = BaseModelOutput(last_hidden_state=self.encoded.last_hidden_state[keep])
        self.cache.batch_select_indices(keep)

    def feed(self, tokens: torch.Tensor) -> torch.Tensor:
        ones = torch.ones((len(tokens), 1), dtype=self.dec_mask.dtype, device=tokens.device)
        self.dec_mask = torch.cat([self.dec_mask, ones], dim=1)
        logits, _, self.cache = self.model(
            None,
            attention_mask=self.enc_mask,
            decoder_input_ids=tokens[:, None],
            decoder_attention_mask=self.dec_mask,
            encoder_outputs=self.encoded,
            past_key_values=self.cache,
            use_cache=True,
        )
        return logits[:, -1]

    def leave(self, batch_rows, rows, out) -> None:
        """Nothing is kept across turns (KV reuse is for causal LMs)."""


ValueHeadLM.register_architecture("seq2seq", Seq2SeqValueHeadLM)
