"""The turn engine: one agent turn read into a transcript, the logic every env shares.

A turn goes through the same steps in every textgym env, single-agent or a seat of a
multi-agent game: the action is read as token ids (out-of-vocabulary ids become the
unknown token), cut at its first stop token, parsed by the tool-call format, appended to
the seat's :class:`~textgym.transcript.Transcript`, and, for a tool request, dispatched to
the tool, whose response is appended too. The envs keep only their episode bookkeeping
(turn counts, rounds, rewards) around :meth:`TurnEngine.take_turn`. The tool-call format
is an object the engine is given (TRL's markers by default, or
:class:`~textgym.chat_format.ChatToolCallFormat`), so both formats share this one engine.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from textgym.chat_format import ChatToolCallFormat
from textgym.protocol import ParsedTurn, ToolCallFormat, TurnKind
from textgym.task import ToolCall
from textgym.tool import Tool
from textgym.transcript import Transcript, coerce_token_ids

__all__ = ["TurnEngine", "TurnOutcome", "ToolStats"]


@dataclass
class ToolStats:
    """Running wall-clock statistics of one tool (kept out of ``info`` so that ``info`` is
    a deterministic function of seed and actions)."""

    calls: int = 0
    total_s: float = 0.0
    max_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.calls += 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)

    @property
    def mean_s(self) -> float:
        return self.total_s / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class TurnOutcome:
    """What one turn did to the transcript.

    Attributes:
        parsed: the turn as read (kind, ids kept, tool and query, answer text).
        call: the tool call and its response, for a turn that ended at ``<call>``.
        overflow: the turn or the tool response did not fit in the context (what fitted
            was written).
        invalid_ids: how many ids were outside the vocabulary (now the unknown token).
        turn_truncated: the turn was longer than ``max_turn_tokens`` and was cut first.
    """

    parsed: ParsedTurn
    call: ToolCall | None
    overflow: bool
    invalid_ids: int
    turn_truncated: bool

    @property
    def is_final(self) -> bool:
        """A final answer (any turn that is not a tool request)."""
        return self.parsed.kind is not TurnKind.CALL


class TurnEngine:
    """Reads agent turns into transcripts and runs the tools they request.

    Args:
        tokenizer: a tokenizer holding the protocol markers.
        tools: the tools by name.
        max_turn_tokens: a longer turn is cut to this many ids before it is read, as a
            generator with that many new tokens would have stopped.
        max_response_tokens: a tool response is capped at this many ids (with ``...``).
        cut_at_pad: also end the turn at its first pad id (fixed-shape ``Box`` actions of
            the multi-agent envs, right-padded with the pad id).
        call_format: how turns are read and responses written; ``None`` is TRL's markers
            (:class:`~textgym.protocol.ToolCallFormat` over ``tokenizer``).
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        tools: Mapping[str, Tool],
        *,
        max_turn_tokens: int,
        max_response_tokens: int,
        cut_at_pad: bool = False,
        call_format: ToolCallFormat | ChatToolCallFormat | None = None,
    ):
        self.tokenizer = tokenizer
        self.tools = dict(tools)
        self.call_format = ToolCallFormat(tokenizer) if call_format is None else call_format
        self.stop_token_ids: tuple[int, ...] = self.call_format.stop_token_ids
        self.vocab_size = len(tokenizer)
        self.pad_id = int(tokenizer.pad_token_id or 0)
        unk = tokenizer.unk_token_id
        self.unk_id = int(unk if unk is not None else self.pad_id)
        self.max_turn_tokens = int(max_turn_tokens)
        self.max_response_tokens = int(max_response_tokens)
        self.cut_at_pad = cut_at_pad
        self.timings: dict[str, ToolStats] = {name: ToolStats() for name in self.tools}
        for tool in self.tools.values():
            tool.bind(tokenizer, self.max_response_tokens)

    def new_transcript(self, max_context: int) -> Transcript:
        """An empty context of ``max_context`` tokens for one seat or episode."""
        return Transcript(self.tokenizer, max_context, self.pad_id)

    def take_turn(self, transcript: Transcript, action: Any) -> TurnOutcome:
        """Read ``action`` as one turn, append it to ``transcript`` and, for a tool
        request, the tool's response. Raises ``TypeError``/``ValueError`` only for an
        action that is not token ids at all (see :func:`coerce_token_ids`)."""
        ids, invalid_ids = coerce_token_ids(action, self.vocab_size, self.unk_id)
        if self.cut_at_pad:
            pads = np.flatnonzero(ids == self.pad_id)
            if len(pads):
                ids = ids[: int(pads[0])]
        turn_truncated = len(ids) > self.max_turn_tokens
        parsed = self.call_format.parse(ids[: self.max_turn_tokens])
        overflow = not transcript.append(parsed.ids, "agent", agent=True)
        call = None
        if not overflow and parsed.kind is TurnKind.CALL:
            call = self.dispatch(parsed)
            response = self.call_format.format_response(call.response, self.max_response_tokens)
            overflow = not transcript.append(response, "tool", agent=False)
        return TurnOutcome(parsed, call, overflow, invalid_ids, turn_truncated)

    def dispatch(self, parsed: ParsedTurn) -> ToolCall:
        """Run the tool a call turn names; malformed calls and unknown tools become error
        responses (``valid=False``), never exceptions. A malformed call keeps whatever
        tool name it gave (the chat format reads one before it finds wrong arguments)."""
        if parsed.error is not None:
            message = f"Error: {parsed.error}"
            return ToolCall(parsed.tool, parsed.query, message, ok=False, valid=False)
        assert parsed.tool is not None and parsed.query is not None
        tool = self.tools.get(parsed.tool)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            message = f"Error: unknown tool {parsed.tool!r}; available: {known}"
            return ToolCall(parsed.tool, parsed.query, message, ok=False, valid=False)
        started = time.perf_counter()
        result = tool.run(parsed.query)
        self.timings[tool.name].add(time.perf_counter() - started)
        return ToolCall(
            tool.name, parsed.query, result.response, ok=result.ok, valid=True, data=result.data
        )
