"""The chat tool-call format: episodes rendered with the tokenizer's own chat template.

The context is what ``tokenizer.apply_chat_template(messages, tools=[schemas])`` renders:
a system message with the tools, the user's question, assistant turns and tool results in
the ``tool`` role. The assistant calls a tool Hermes/Qwen style,
``<tool_call>{"name": "Calculator", "arguments": {"expression": "2+3"}}</tool_call>``, and
answers in plain text; its turn ends at the template's end-of-turn token (``<|im_end|>``)
or EOS.

Token in, token out: the env never re-renders earlier turns (a re-render can tokenize
them differently, or a template can rewrite history, and the policy's log-probs would no
longer match its context). The template is rendered once, at construction, on dummy
conversations with sentinel strings (the trick TRL and verl use); the text around each
sentinel is the template's scaffolding, encoded with special tokens, and what goes in
its place at run time (the question, a tool's output) is encoded as untrusted text, so a
tool output containing ``<|im_end|>`` or ``<tool_call>`` stays ordinary characters.

Calls are read on ids where ``<tool_call>``/``</tool_call>`` are single tokens and on text
where they are not. Every malformed call (bad JSON, unknown tool, wrong arguments, an
oversized payload, two calls in one turn) becomes an error response and an invalid call,
never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from transformers import PreTrainedTokenizerBase

from textgym.answers import read_answer
from textgym.chat_template import (
    BYT5_CHAT_TEMPLATE,
    CHAT_SPECIALS,
    CLOSE,
    NO_TEMPLATE,
    OPEN,
    TOOL_FORMATS,
    check_tool_format,
    make_format_tokenizer,
)
from textgym.protocol import (
    ParsedTurn,
    PromptTemplate,
    ToolCallFormat,
    TurnKind,
    cap_ids,
)
from textgym.tokenizer import (
    CALL,
    REQUEST,
    SUBMIT,
    decode,
    encode_agent_text,
    encode_text,
)
from textgym.tool import Tool, ToolError

__all__ = [
    "TOOL_FORMATS",
    "CHAT_SPECIALS",
    "BYT5_CHAT_TEMPLATE",
    "ChatToolCallFormat",
    "make_call_format",
    "make_format_tokenizer",
    "check_tool_format",
]

#: A call's JSON longer than this (in characters, or ids before decoding) is refused
#: unread: the parser's work per turn stays bounded whatever the agent writes.
MAX_CALL_CHARS = 8192

_SENTINEL = "TEXTGYM_SENTINEL_{}_7F3A"


def make_call_format(
    tokenizer: PreTrainedTokenizerBase, tools: Iterable[Tool] | Mapping[str, Tool], name: str
) -> ToolCallFormat | ChatToolCallFormat:
    """The tool-call format called ``name`` ("markers" or "chat") over ``tokenizer``."""
    if check_tool_format(name) == "markers":
        return ToolCallFormat(tokenizer)
    return ChatToolCallFormat(tokenizer, tools)


class ChatToolCallFormat:
    """JSON tool calls inside the tokenizer's chat template (see the module docstring).

    Same interface as :class:`~textgym.protocol.ToolCallFormat`: ``stop_token_ids``,
    ``parse``, ``format_response``, ``prompt``, ``call_text``, ``answer_text``,
    ``from_marker_text`` and the id builders ``call_ids``, ``answer_ids`` and
    ``malformed_call_ids``. A turn ending at the end-of-turn token reads as
    ``TurnKind.SUBMIT`` (a final answer) unless it holds a ``<tool_call>``, then
    ``TurnKind.CALL``; at EOS likewise, with ``TurnKind.EOS`` for an answer.

    Args:
        tokenizer: a tokenizer with a chat template that renders ``tools`` and the ``tool``
            role (see :func:`make_format_tokenizer`).
        tools: the env's tools; their schemas go into the system prompt.
        max_call_chars: the longest call JSON read (:data:`MAX_CALL_CHARS`).

    Raises:
        ValueError: the tokenizer has no chat template, or it cannot render a tool call
            and a tool result around an assistant turn with an end-of-turn token.
    """

    name = "chat"

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        tools: Iterable[Tool] | Mapping[str, Tool],
        *,
        max_call_chars: int = MAX_CALL_CHARS,
    ):
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(NO_TEMPLATE)
        self.tokenizer = tokenizer
        tool_list = list(tools.values()) if isinstance(tools, Mapping) else list(tools)
        self.tools: dict[str, Tool] = {tool.name: tool for tool in tool_list}
        self.schemas = [tool.function_schema() for tool in tool_list]
        self.max_call_chars = int(max_call_chars)
        self.eos_id = tokenizer.eos_token_id
        self.open_id = self._single_id(OPEN)
        self.close_id = self._single_id(CLOSE)
        self._special_texts = [t for t in tokenizer.added_tokens_encoder if t]
        self._probe_template(tool_list[0] if tool_list else None)

    # ---- the template, rendered once ---------------------------------------------------

    def _render(self, messages: list[dict[str, Any]], generation: bool) -> str:
        try:
            text = self.tokenizer.apply_chat_template(
                messages,
                tools=self.schemas or None,
                tokenize=False,
                add_generation_prompt=generation,
            )
        except Exception as exc:  # noqa: BLE001 - jinja errors of any template
            raise ValueError(
                f"the tokenizer's chat template cannot render a tool-use conversation "
                f"({type(exc).__name__}: {exc}); use a template with tools and the 'tool' "
                "role, or tool_format='markers'"
            ) from exc
        return text if isinstance(text, str) else str(text)

    def _probe_template(self, tool: Tool | None) -> None:
        """Find, from dummy renders: the end-of-turn token, the call syntax the template
        writes, and the ids around a tool's output (what follows an assistant turn)."""
        user = {"role": "user", "content": _SENTINEL.format("Q")}
        reply = _SENTINEL.format("A")
        answered = self._render([user, {"role": "assistant", "content": reply}], False)
        after = answered[answered.index(reply) + len(reply) :]
        after_ids = encode_agent_text(self.tokenizer, after)
        special = set(self.tokenizer.all_special_ids) | set(self.tokenizer.added_tokens_decoder)
        self.eot_id: int | None = None
        if len(after_ids) and int(after_ids[0]) in special:
            self.eot_id = int(after_ids[0])
        if self.eot_id is None and self.eos_id is None:
            raise ValueError(
                "the chat template ends an assistant turn with no special token and the "
                "tokenizer has no EOS: a turn could never end; use tool_format='markers'"
            )
        #: The id that ends an agent turn this format writes (end of turn, else EOS).
        self.end_id: int = self.eot_id if self.eot_id is not None else self.eos_id
        self.eot_text = decode(self.tokenizer, [self.end_id])

        name = tool.name if tool is not None else "tool"
        arguments = {tool.argument if tool is not None else "query": "x"}
        call = {"type": "function", "function": {"name": name, "arguments": arguments}}
        asked = [user, {"role": "assistant", "content": "", "tool_calls": [call]}]
        prompt = self._render([user], True)
        called = self._render(asked, False)
        output = _SENTINEL.format("T")
        full = self._render([*asked, {"role": "tool", "name": name, "content": output}], True)
        end = called.rfind(self.eot_text)
        if not full.startswith(called) or full.count(output) != 1 or end < 0:
            raise ValueError(
                "the chat template does not append a tool result after an assistant tool "
                "call without changing earlier turns; use tool_format='markers'"
            )
        before, behind = full[len(called) :].split(output)
        tail = called[end + len(self.eot_text) :]
        self._response_head = encode_agent_text(self.tokenizer, tail + before)
        self._response_tail = encode_agent_text(self.tokenizer, behind)
        # The call syntax: the template's own rendering of the dummy call, around its JSON.
        written = called[len(prompt) : end] if called.startswith(prompt) else ""
        payload = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        if OPEN in written and payload in written:
            self._call_head, self._call_tail = written.split(payload, 1)
        else:
            self._call_head, self._call_tail = OPEN, CLOSE
        # The template's own text, so its tags are tokens; only the JSON between is data.
        self._call_head_ids = encode_agent_text(self.tokenizer, self._call_head)
        self._call_tail_ids = encode_agent_text(self.tokenizer, self._call_tail)

    def _single_id(self, token: str) -> int | None:
        ids = encode_agent_text(self.tokenizer, token)
        return int(ids[0]) if len(ids) == 1 else None

    # ---- the format interface ----------------------------------------------------------

    @property
    def stop_token_ids(self) -> tuple[int, ...]:
        """Ids that end an agent turn: the template's end-of-turn token and EOS."""
        stops = [i for i in (self.eot_id, self.eos_id) if i is not None]
        return tuple(dict.fromkeys(stops))

    def prompt(self, system: str) -> PromptTemplate:
        """The rendered system message (tools included) and user turn, up to the assistant
        generation prompt, with the question as untrusted text in between."""
        question = _SENTINEL.format("Q")
        messages = [{"role": "user", "content": question}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        text = self._render(messages, True)
        if text.count(question) != 1:
            raise ValueError("the chat template does not show the user's message verbatim")
        head, tail = text.split(question)
        return PromptTemplate(
            self.tokenizer,
            encode_agent_text(self.tokenizer, head),
            encode_agent_text(self.tokenizer, tail),
            strip=True,
        )

    def parse(self, ids: np.ndarray) -> ParsedTurn:
        """Cut ``ids`` at the first stop token and read the turn: a call if it holds a
        ``<tool_call>``, else a final answer (the text before the stop token)."""
        stops = np.flatnonzero(np.isin(ids, self.stop_token_ids))
        if len(stops) == 0:
            return ParsedTurn(TurnKind.NO_STOP, ids, answer=self._text(ids))
        end = int(stops[0])
        turn, dropped, body = ids[: end + 1], len(ids) - end - 1, ids[:end]
        found = self._call_payload(body)
        if found is None:
            kind = TurnKind.SUBMIT if int(ids[end]) == self.eot_id else TurnKind.EOS
            return ParsedTurn(kind, turn, dropped, answer=self._text(body))
        payload, error = found
        if error is None:
            tool, query, error = self._read_call(payload)
            return ParsedTurn(TurnKind.CALL, turn, dropped, tool=tool, query=query, error=error)
        return ParsedTurn(TurnKind.CALL, turn, dropped, error=error)

    def format_response(self, text: str, max_tokens: int) -> np.ndarray:
        """The ids the env appends after a call turn: the rest of the assistant turn's
        scaffolding, the tool message with ``text`` (untrusted, capped at ``max_tokens``
        with ``...``) and the next assistant generation prompt."""
        ids = cap_ids(self.tokenizer, encode_text(self.tokenizer, text), max_tokens)
        return np.concatenate([self._response_head, ids, self._response_tail])

    def call_text(self, tool: str, query: str) -> str:
        """Agent text of a call to ``tool`` with ``query`` as its one argument, in the
        template's own call syntax, ending the turn."""
        return f"{self._call_head}{self._payload(tool, query)}{self._call_tail}{self.eot_text}"

    def answer_text(self, answer: str) -> str:
        """Agent text of a final answer: the plain answer, ending the turn."""
        return f"{answer}{self.eot_text}"

    # ---- agent turns as ids: untrusted text inside the format's own tokens -------------

    def call_ids(self, tool: str, query: str) -> np.ndarray:
        """The ids of a call to ``tool`` with ``query`` as its one argument (an unknown
        tool gets ``query`` as ``"query"``, and the env answers "unknown tool"): the
        template's call tags as tokens, the JSON as untrusted text, then the end of turn.
        No special token can be forged from ``tool`` or ``query``."""
        return self._call_turn(encode_text(self.tokenizer, self._payload(tool, query)))

    def malformed_call_ids(self, raw: str) -> np.ndarray:
        """The ids of a call the env reads as malformed (an invalid call, recorded and
        penalised as such) that keeps ``raw``, untrusted, in the transcript."""
        # "invalid ..." is no JSON value, so whatever ``raw`` holds, parsing fails.
        return self._call_turn(encode_text(self.tokenizer, f"invalid call {raw}"))

    def answer_ids(self, text: str) -> np.ndarray:
        """The ids of a final answer: ``text`` untrusted, then the end of turn. Where the
        call tags are not single tokens (calls read on text), a ``<tool_call>`` written in
        ``text`` still reads as a call: there the tags are text by definition."""
        return np.append(encode_text(self.tokenizer, text), np.int64(self.end_id))

    def _call_turn(self, payload: np.ndarray) -> np.ndarray:
        end = np.asarray([self.end_id], dtype=np.int64)
        return np.concatenate([self._call_head_ids, payload, self._call_tail_ids, end])

    def _payload(self, tool: str, query: str) -> str:
        """A call's JSON: ``query`` as the tool's one argument (``"query"`` for a tool the
        env does not have)."""
        known = self.tools.get(tool)
        arguments = {known.argument if known is not None else "query": query}
        payload = json.dumps({"name": tool, "arguments": arguments}, ensure_ascii=False)
        if any(tag in payload for tag in (*self._special_texts, OPEN, CLOSE)):
            # As agent text, a query holding "<|im_end|>" would become that token and end
            # the turn; where the tags are read on text, a "<tool_call>" in it would open a
            # second call. JSON's \u003c spells the same string without either.
            payload = payload.replace("<", "\\u003c")
        return payload

    def from_marker_text(self, text: str) -> str:
        """A task's oracle turn (marker text, ``protocol.call_text``/``submit_text``) in
        this format: a call becomes a JSON call, an answer its plain text (without
        ``Result=``), so every task's oracle plays chat with no change to the task."""
        start, end = text.rfind(REQUEST), len(text) - len(CALL)
        if start >= 0 and text.endswith(CALL) and text.startswith("<", start + len(REQUEST)):
            tag = text[start + len(REQUEST) + 1 : end]
            if ">" in tag:
                tool, query = tag.split(">", 1)
                return text[:start] + self.call_text(tool, query)
        if text.endswith(SUBMIT):
            text = text[: -len(SUBMIT)]
        return self.answer_text(read_answer(text) or "")

    # ---- reading a call ----------------------------------------------------------------

    def _call_payload(self, body: np.ndarray) -> tuple[str, str | None] | None:
        """The JSON text of the turn's call and an error, or None when the turn holds no
        ``<tool_call>`` (a final answer)."""
        if self.open_id is not None and self.close_id is not None:
            opens = np.flatnonzero(body == self.open_id)
            closes = np.flatnonzero(body == self.close_id)
            if len(opens) == 0:
                return None
            count, first = len(opens), int(opens[0])
            after = closes[closes > first]
            if count == 1 and len(after) and int(after[0]) - first - 1 > self.max_call_chars:
                return "", self._too_long()
            close = int(after[0]) if len(after) else -1
            payload = self._text(body[first + 1 : close]) if close >= 0 else ""
        else:
            text = self._text(body)
            if OPEN not in text:
                return None
            count, first = text.count(OPEN), text.index(OPEN) + len(OPEN)
            close = text.find(CLOSE, first)
            payload = text[first:close] if close >= 0 else ""
        if count > 1:
            return "", f"one tool call per turn, got {count}; wait for each result"
        if close < 0:
            return "", f"unclosed {OPEN}: end the call with {CLOSE}"
        if len(payload) > self.max_call_chars:
            return "", self._too_long()
        return payload, None

    def _read_call(self, payload: str) -> tuple[str | None, str | None, str | None]:
        """``(tool, query, error)`` of one call's JSON. An unknown tool keeps its name and
        the arguments as query, so the engine reports it as for the markers."""
        example = f'{OPEN}{{"name": "Tool", "arguments": {{...}}}}{CLOSE}'
        try:
            call = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            return None, None, f"tool call is not valid JSON ({exc}); write {example}"
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            return None, None, f"a tool call is a JSON object with a string name; write {example}"
        name, arguments = call["name"], call.get("arguments", {})
        tool = self.tools.get(name)
        if tool is None:
            return name, json.dumps(arguments, ensure_ascii=False)[: self.max_call_chars], None
        try:
            return name, tool.query_from_arguments(arguments), None
        except ToolError as exc:
            return name, None, str(exc)
        except RecursionError:
            return name, None, "arguments too deeply nested"

    def _too_long(self) -> str:
        return f"tool call longer than {self.max_call_chars} characters"

    def _text(self, ids: np.ndarray) -> str:
        return decode(self.tokenizer, ids)
