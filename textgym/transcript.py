"""One agent's context as a token buffer: who wrote each token, and how to show it.

Multi-agent envs keep one :class:`Transcript` per seat. Each seat sees its own context
(the game's prompt for that seat, its turns, its tool responses and what the other seats
said to it) as a fixed-length array, as PettingZoo's API tests need.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from textgym.render import Segment, render_ansi, render_plain
from textgym.tokenizer import decode

__all__ = ["Transcript", "coerce_token_ids"]


def coerce_token_ids(action: Any, vocab_size: int, unk_id: int) -> tuple[np.ndarray, int]:
    """Read an action as 1-D int64 token ids; out-of-vocabulary ids become ``unk_id``.

    Returns the ids and how many were replaced. Raises ``TypeError``/``ValueError`` for
    text, ragged lists, non-integral floats and arrays that are not 1-D.
    """
    if isinstance(action, (str, bytes)):
        raise TypeError(
            "action must be an array of token ids; encode text with env.unwrapped."
            "encode_turn(text) or use the textgym.wrappers.TextLevel view"
        )
    try:
        ids = np.asarray(action)
    except Exception as exc:  # noqa: BLE001 - ragged lists and other non-arrays
        raise TypeError(f"action must be a 1-D array of token ids: {exc}") from exc
    if ids.ndim == 0:
        ids = ids.reshape(1)
    if ids.ndim != 1:
        raise ValueError(f"action must be 1-D token ids, got shape {ids.shape}")
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if ids.dtype.kind == "f":
        if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
            raise TypeError("action must hold integer token ids, got non-integral floats")
    elif ids.dtype.kind not in "iub":
        raise TypeError(f"action must hold integer token ids, got dtype {ids.dtype}")
    with np.errstate(invalid="ignore", over="ignore"):
        wide = ids.astype(np.float64) if ids.dtype.kind == "f" else ids
        bad = (wide < 0) | (wide >= vocab_size)
    return np.where(bad, unk_id, ids).astype(np.int64), int(bad.sum())


class Transcript:
    """A context of at most ``max_context`` tokens, with an agent mask and segments.

    Args:
        tokenizer: decodes the context for rendering.
        max_context: the capacity in tokens; an append that does not fit writes what fits
            and reports the overflow.
        pad_id: the id that fills :meth:`padded` past the end of the context.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, max_context: int, pad_id: int):
        self.tokenizer = tokenizer
        self.max_context = int(max_context)
        self.pad_id = int(pad_id)
        self.buffer = np.full(self.max_context, self.pad_id, dtype=np.int64)
        self.agent_mask = np.zeros(self.max_context, dtype=bool)
        self.length = 0
        self.segments: list[Segment] = []

    def clear(self) -> None:
        """Empty the context for a new episode, keeping the arrays."""
        self.buffer[: self.length] = self.pad_id
        self.agent_mask[:] = False  # the whole mask is exposed as info["agent_mask"]
        self.length = 0
        self.segments = []

    def append(self, ids: np.ndarray, kind: str, *, agent: bool) -> bool:
        """Append ``ids`` as a ``kind`` segment; return False (after writing what fits)
        when they overflow the context."""
        fits = min(self.max_context - self.length, len(ids))
        start = self.length
        self.buffer[start : start + fits] = ids[:fits]
        self.agent_mask[start : start + fits] = agent
        self.length += fits
        if fits:
            self.segments.append(Segment(kind, start, start + fits))
        return fits == len(ids)

    def padded(self) -> np.ndarray:
        """The context right-padded to ``max_context`` (a copy)."""
        return self.buffer.copy()

    def ids(self) -> np.ndarray:
        """The context without padding (a copy)."""
        return self.buffer[: self.length].copy()

    def text(self) -> str:
        return decode(self.tokenizer, self.buffer[: self.length])

    def render(
        self, colour: bool = False, reward: float | None = None, *, legend: bool = True
    ) -> str:
        """The context segment by segment (with ``reward`` once known); with ``colour``,
        ANSI colours per segment and, with ``legend``, the colour key."""
        if colour:
            return render_ansi(self.tokenizer, self.buffer, self.segments, reward, legend=legend)
        return render_plain(self.tokenizer, self.buffer, self.segments, reward)
