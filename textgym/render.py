"""Coloured transcripts, as TRL's ``TextHistory.show_text`` drew them (with ANSI codes
instead of ``rich``): the prompt on grey, agent turns on blue, tool responses on plum and
the reward on cyan, so a glance shows who wrote what."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from transformers import PreTrainedTokenizerBase

from textgym.tokenizer import decode

__all__ = ["Segment", "COLOURS", "render_ansi", "render_plain"]


class Segment(NamedTuple):
    """A span of the context and who produced it: "prompt", "agent" or "tool"."""

    kind: str
    start: int
    end: int


# Black text on 256-colour backgrounds: grey85, deep_sky_blue1, plum1, cyan3 (TRL's choices).
COLOURS = {
    "prompt": "\x1b[30;48;5;253m",
    "agent": "\x1b[30;48;5;39m",
    "tool": "\x1b[30;48;5;219m",
    "reward": "\x1b[30;48;5;43m",
}
RESET = "\x1b[0m"


def _paint(text: str, colour: str) -> str:
    # Colour each line separately so a background never bleeds past a line end.
    return "\n".join(f"{colour}{line}{RESET}" if line else "" for line in text.split("\n"))


def render_ansi(
    tokenizer: PreTrainedTokenizerBase,
    ids: np.ndarray,
    segments: Sequence[Segment],
    reward: float | None = None,
    *,
    legend: bool = True,
) -> str:
    """The transcript with one colour per segment kind, and the reward once known."""
    parts = [_paint(decode(tokenizer, ids[s.start : s.end]), COLOURS[s.kind]) for s in segments]
    out = "".join(parts)
    if reward is not None:
        out += "\n" + _paint(f"reward: {reward:g}", COLOURS["reward"])
    if legend:
        keys = " ".join(_paint(f" {kind} ", colour) for kind, colour in COLOURS.items())
        out = f"{keys}\n{out}"
    return out


def render_plain(
    tokenizer: PreTrainedTokenizerBase,
    ids: np.ndarray,
    segments: Sequence[Segment],
    reward: float | None = None,
) -> str:
    """The transcript with no colour codes."""
    out = "".join(decode(tokenizer, ids[s.start : s.end]) for s in segments)
    return out if reward is None else f"{out}\nreward: {reward:g}"
