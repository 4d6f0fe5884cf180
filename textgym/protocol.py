"""The tool-call protocol: how an agent turn is read, on token ids.

Default markers are TRL's TextEnvironment markers, one special token each. A turn is::

    <request><Calculator>2+3<call>      a tool request; the env answers "5<response>"
    Result=5<submit>                     a final answer; the episode ends

Parsing works on ids, never on re-tokenized text: a marker is one id, so it cannot be
confused with the same characters typed inside a query. The format is an object so that
another format (JSON tool calls, say) can replace it without touching any env:
:mod:`textgym.chat_format` is that second format, with the same methods (``parse``,
``format_response``, ``stop_token_ids``, ``prompt``, ``from_marker_text``).

Both formats also build agent turns as ids for an agent that writes them from untrusted
text (the chat bridge, scripted agents): ``call_ids(tool, query)``, ``answer_ids(text)``
and ``malformed_call_ids(raw)``. The text is encoded with
:func:`~textgym.tokenizer.encode_text`, so it can never forge a marker or a special
token; only the format adds its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import numpy as np
from transformers import PreTrainedTokenizerBase

from textgym.tokenizer import (
    CALL,
    REQUEST,
    RESPONSE,
    SUBMIT,
    decode,
    encode_agent_text,
    encode_text,
)

__all__ = [
    "TOOL_NAME",
    "TurnKind",
    "ParsedTurn",
    "PromptTemplate",
    "ToolCallFormat",
    "call_text",
    "submit_text",
    "cap_ids",
]

#: A tool name the marker parser reads as a tool tag ``<Name>``.
TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_TOOL_TAG = re.compile(rf"\s*<({TOOL_NAME.pattern})>(.*)\Z", re.DOTALL)


class TurnKind(str, Enum):
    """How an agent turn ended."""

    CALL = "call"  # ended at the call marker: a tool request (well formed or not)
    SUBMIT = "submit"  # ended at the submit marker: a final answer
    EOS = "eos"  # ended at the tokenizer's EOS: a final answer, as in TRL
    NO_STOP = "no_stop"  # no stop token at all (empty or cut-off turn): a final answer


@dataclass(frozen=True)
class ParsedTurn:
    """One agent turn, cut at its first stop token and read.

    Attributes:
        kind: how the turn ended.
        ids: the turn's ids up to and including the stop token; ids after it are dropped.
        dropped: how many ids followed the stop token and were dropped.
        tool: the requested tool name, for a well-formed call (and for a chat call whose
            arguments were wrong); else ``None``.
        query: the tool query text, for a well-formed call.
        answer: the final-answer text (before the submit/EOS marker), for a final turn.
        error: for a malformed call, what was wrong (this text goes into the response).
    """

    kind: TurnKind
    ids: np.ndarray
    dropped: int = 0
    tool: str | None = None
    query: str | None = None
    answer: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class PromptTemplate:
    """The ids of an episode's prompt around its question, computed once per env: the
    env's own scaffolding (``head``, ``tail``: system prompt, template tokens) is encoded
    once with special tokens, and each episode's question goes between them as untrusted
    text, so a question can never forge a marker or a chat special token.

    Attributes:
        tokenizer: encodes the question.
        head: the ids before the question.
        tail: the ids after it (the chat format's generation prompt; empty for markers).
        strip: strip the question's surrounding whitespace (a chat message carries none:
            the template separates turns).
    """

    tokenizer: PreTrainedTokenizerBase
    head: np.ndarray
    tail: np.ndarray
    strip: bool = False

    def ids(self, question: str) -> np.ndarray:
        """The prompt's ids for ``question``."""
        text = question.strip() if self.strip else question
        return np.concatenate([self.head, encode_text(self.tokenizer, text), self.tail])


class ToolCallFormat:
    """TRL's marker format: ``<request><Tool>query<call>`` ... ``answer<submit>``.

    Args:
        tokenizer: a tokenizer holding the four markers (see :func:`make_tokenizer`).
    """

    name = "markers"

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.tokenizer = tokenizer
        ids = {m: tokenizer.convert_tokens_to_ids(m) for m in (REQUEST, CALL, RESPONSE, SUBMIT)}
        unk = tokenizer.unk_token_id
        for marker, i in ids.items():
            if i is None or (unk is not None and i == unk):
                raise ValueError(
                    f"tokenizer lacks the marker {marker!r}; build it with make_tokenizer()"
                )
        self.request_id = ids[REQUEST]
        self.call_id = ids[CALL]
        self.response_id = ids[RESPONSE]
        self.submit_id = ids[SUBMIT]
        self.eos_id = tokenizer.eos_token_id

    @property
    def stop_token_ids(self) -> tuple[int, ...]:
        """Ids that end an agent turn: call, submit and (if any) EOS."""
        stops = [self.call_id, self.submit_id]
        if self.eos_id is not None:
            stops.append(self.eos_id)
        return tuple(stops)

    def parse(self, ids: np.ndarray) -> ParsedTurn:
        """Cut ``ids`` at the first stop token and read the turn."""
        stops = np.flatnonzero(np.isin(ids, self.stop_token_ids))
        if len(stops) == 0:
            return ParsedTurn(TurnKind.NO_STOP, ids, answer=self._text(ids))
        end = int(stops[0])
        turn, dropped = ids[: end + 1], len(ids) - end - 1
        stop = int(ids[end])
        body = ids[:end]
        if stop == self.call_id:
            return self._parse_call(turn, body, dropped)
        kind = TurnKind.SUBMIT if stop == self.submit_id else TurnKind.EOS
        return ParsedTurn(kind, turn, dropped, answer=self._text(body))

    def _parse_call(self, turn: np.ndarray, body: np.ndarray, dropped: int) -> ParsedTurn:
        requests = np.flatnonzero(body == self.request_id)
        if len(requests) == 0:
            return ParsedTurn(
                TurnKind.CALL,
                turn,
                dropped,
                error="malformed call: no <request> before <call>; "
                "write <request><ToolName>query<call>",
            )
        # The last request wins: text the agent wrote before it is thinking, not the call.
        request = body[int(requests[-1]) + 1 :]
        if np.isin(request, (self.response_id,)).any():
            return ParsedTurn(
                TurnKind.CALL, turn, dropped, error="malformed call: <response> inside a request"
            )
        match = _TOOL_TAG.match(self._text(request))
        if match is None:
            return ParsedTurn(
                TurnKind.CALL,
                turn,
                dropped,
                error="malformed call: expected <ToolName> right after <request>",
            )
        return ParsedTurn(TurnKind.CALL, turn, dropped, tool=match.group(1), query=match.group(2))

    def format_response(self, text: str, max_tokens: int) -> np.ndarray:
        """The ids the env appends after a call: the response text, then ``<response>``.

        The text is encoded as untrusted (no markers) and capped at ``max_tokens`` ids
        before the marker, with a visible ``...`` where it was cut.
        """
        ids = cap_ids(self.tokenizer, encode_text(self.tokenizer, text), max_tokens)
        return np.concatenate([ids, np.asarray([self.response_id], dtype=np.int64)])

    def prompt(self, system: str) -> PromptTemplate:
        """The system prompt (env-written, so markers in it are markers) followed by the
        question as untrusted text, exactly as TRL's TextEnvironment laid it out."""
        empty = np.zeros(0, dtype=np.int64)
        return PromptTemplate(self.tokenizer, encode_agent_text(self.tokenizer, system), empty)

    def call_text(self, tool: str, query: str) -> str:
        """Agent text of a tool call, ``<request><tool>query<call>``."""
        return call_text(tool, query)

    def answer_text(self, answer: str) -> str:
        """Agent text of a final answer, ``Result=answer<submit>``."""
        return submit_text(answer)

    def from_marker_text(self, text: str) -> str:
        """A turn written with the markers (a task's ``oracle_turn``) in this format:
        unchanged."""
        return text

    # ---- agent turns as ids: untrusted text between the format's own markers -----------

    def call_ids(self, tool: str, query: str) -> np.ndarray:
        """The ids of ``<request><tool>query<call>``: the two markers are the only marker
        ids; ``<tool>query`` is untrusted text, so a ``<call>`` in the query is characters
        that reach the tool.

        Raises:
            ValueError: ``tool`` is not a name the parser reads as a tool tag (it would
                be read as another tool, or as a malformed call).
        """
        if not TOOL_NAME.fullmatch(tool):
            raise ValueError(f"{tool!r} cannot be written as a tool tag <Name>")
        return self._marked(self.request_id, f"<{tool}>{query}", self.call_id)

    def malformed_call_ids(self, raw: str) -> np.ndarray:
        """The ids of a call the env reads as malformed (an invalid call, recorded and
        penalised as such) that keeps ``raw``, untrusted, in the transcript."""
        # Text after <request> that does not open with a <Tool> tag is a malformed call.
        return self._marked(self.request_id, f"invalid call {raw}", self.call_id)

    def answer_ids(self, text: str) -> np.ndarray:
        """The ids of ``text<submit>``, ``text`` untrusted (no ``Result=`` added)."""
        return self._marked(None, text, self.submit_id)

    def _marked(self, start: int | None, text: str, end: int) -> np.ndarray:
        head = np.asarray([] if start is None else [start], dtype=np.int64)
        tail = np.asarray([end], dtype=np.int64)
        return np.concatenate([head, encode_text(self.tokenizer, text), tail])

    def _text(self, ids: np.ndarray) -> str:
        return decode(self.tokenizer, ids)


def call_text(tool: str, query: str) -> str:
    """Agent text of a tool call, for scripted agents and demonstrations."""
    return f"{REQUEST}<{tool}>{query}{CALL}"


def submit_text(answer: str) -> str:
    """Agent text of a final answer in TRL's form, ``Result=answer<submit>``."""
    return f"Result={answer}{SUBMIT}"


def cap_ids(tokenizer: PreTrainedTokenizerBase, ids: np.ndarray, max_tokens: int) -> np.ndarray:
    """``ids`` cut to ``max_tokens``, with a visible ``...`` where they were cut."""
    if len(ids) <= max_tokens:
        return ids
    ellipsis = encode_text(tokenizer, "...")
    keep = max(0, max_tokens - len(ellipsis))
    return np.concatenate([ids[:keep], ellipsis[: max_tokens - keep]])
