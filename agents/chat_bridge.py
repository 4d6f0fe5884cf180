"""``ChatBridge``: a textgym episode as chat messages, and a chat model's reply as a turn.

Chat models (an OpenAI-compatible endpoint, a local model with a chat template) speak in
messages and call tools as JSON functions; a textgym env speaks token ids in one of two
tool-call formats, TRL's markers (``<request><Calculator>2+3<call>`` ... ``5<response>``
... ``Result=5<submit>``) or its chat format (``<tool_call>{json}</tool_call>`` turns
ending at ``<|im_end|>``). The bridge translates both ways, so any such model plays any
textgym env, in either format, unchanged:

- the first observation (system prompt + question) becomes a ``system`` and a ``user``
  message; the result of each call, as the env recorded it (``info["tool_calls"]``) and
  capped as the env showed it, becomes a ``tool`` message answering the assistant's call;
- the env's tools become OpenAI function tools (``Tool.function_schema()``);
- a reply becomes ONE action, built by the env's own format (its ``call_format``): a
  function call -> ``call_ids(name, query)`` with ``query =
  tool.query_from_arguments(arguments)``; a malformed call (bad JSON, wrong arguments, a
  name the format cannot write) -> ``malformed_call_ids``, a call the env itself parses as
  malformed, so the env records an invalid call (and its penalty, if any), while the model
  is told precisely what was wrong; plain content -> ``answer_ids(content)``; a refusal or
  an empty reply -> an empty final answer (scored as wrong, no crash).

Model text is encoded by the format as untrusted text (:func:`textgym.tokenizer.encode_text`)
and only the format adds its own marker or special ids, so a model that writes ``<call>``,
``<submit>``, ``<|im_end|>`` or ``<tool_call>`` (or the tokenizer's EOS) inside an answer or
a query cannot forge one: the characters reach the env, and the tool, as plain text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from textgym.env_spec import EnvSpec, text_env_spec
from textgym.protocol import PromptTemplate, ToolCallFormat, cap_ids
from textgym.tokenizer import decode, encode_text
from textgym.tool import ToolError

__all__ = ["FunctionCall", "ChatReply", "ChatBridge", "CHAT_NOTE", "parse_hermes_reply"]

#: Appended to a marker-format env's system prompt: the prompt describes the markers,
#: which the bridge writes for the model, so the model is told to use function calls
#: instead. (A chat-format env's prompt is written for function calls already.)
CHAT_NOTE = (
    "The call format above is handled for you: call a tool with a function call, and its "
    "result comes back as the tool message. A reply without a function call is your final "
    "answer and ends the episode: give only the answer."
)

#: What the bridge needs of the env's format: the prompt, to find the question, and the
#: three id builders.
_FORMAT_METHODS = ("prompt", "call_ids", "answer_ids", "malformed_call_ids")


@dataclass(frozen=True)
class FunctionCall:
    """One function call as a model wrote it.

    Attributes:
        name: the function (tool) name.
        arguments: the arguments as JSON text, unparsed (a model may write bad JSON).
        id: the call's id, echoed in the ``tool`` message (an API requires it); the
            bridge makes one up when ``None``.
        error: set when the call could not even be read (a ``<tool_call>`` block that
            is not JSON, say): why; the call is then malformed whatever its name.
    """

    name: str
    arguments: str = "{}"
    id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ChatReply:
    """One assistant reply: text, function calls, or a refusal (OpenAI's ``refusal``)."""

    content: str | None = None
    tool_calls: tuple[FunctionCall, ...] = ()
    refusal: str | None = None


def _function_schema(tool: Any) -> dict[str, Any]:
    """The tool's OpenAI function entry; a third-party tool without ``function_schema``
    gets textgym's default shape (one string argument ``query``)."""
    if hasattr(tool, "function_schema"):
        return tool.function_schema()
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": getattr(tool, "description", ""),
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}},
                "required": ["query"],
            },
        },
    }


def _query(tool: Any, arguments: str) -> str:
    """``tool.query_from_arguments``; raises :class:`ToolError` for anything malformed."""
    if hasattr(tool, "query_from_arguments"):
        return tool.query_from_arguments(arguments)
    try:
        value = json.loads(arguments)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ToolError(f"arguments are not valid JSON: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("query"), str):
        raise ToolError('arguments must be {"query": "..."}')
    return value["query"]


def _optional(env: gym.Env, name: str) -> Any:
    try:
        return env.get_wrapper_attr(name)
    except AttributeError:
        return None


def _call_format(env: gym.Env, spec: EnvSpec, agent: str) -> Any:
    """The env's tool-call format (its public ``call_format``); an env without one that
    says it plays TRL's markers gets the marker format over its tokenizer."""
    fmt = _optional(env, "call_format")
    if fmt is None and spec.tool_format == "markers":
        try:
            fmt = ToolCallFormat(spec.tokenizer)
        except ValueError as exc:
            raise TypeError(
                f"{agent} needs an env whose tokenizer has the markers: {exc}"
            ) from None
    if fmt is None or not all(hasattr(fmt, name) for name in _FORMAT_METHODS):
        raise TypeError(
            f"{agent} needs the env's call_format (with {', '.join(_FORMAT_METHODS)}); "
            f"{env.unwrapped!r} has none"
        )
    return fmt


class ChatBridge:
    """The chat view of one textgym env, one episode at a time.

    Call :meth:`reset` at the start of each episode, :meth:`messages` with each
    observation and its ``info``, and :meth:`action` with the model's reply to get the env
    action.

    Args:
        env: a textgym env in either tool format (it has ``encode_turn``, a ``tools``
            mapping and a ``call_format``, or the markers in its tokenizer).
        agent: the agent's name, for error messages.

    Raises:
        TypeError: for an env that is not a textgym env or has no ``tools``.
    """

    def __init__(self, env: gym.Env, agent: str = "ChatBridge"):
        self.spec = text_env_spec(env, agent)
        tools = _optional(env, "tools")
        if tools is None:
            raise TypeError(
                f"{agent} needs the env's tools (env.unwrapped.tools, a name -> tool "
                f"mapping); {env.unwrapped!r} has none"
            )
        self.tools: dict[str, Any] = dict(tools)
        self.tool_schemas = [_function_schema(tool) for tool in self.tools.values()]
        #: The env's tool-call format: it builds every action the bridge sends.
        self.call_format = _call_format(env, self.spec, agent)
        # A third-party env without one: the whole first observation is the user's.
        self.system_prompt: str | None = _optional(env, "system_prompt")
        self._prompt: PromptTemplate | None = None
        if self.system_prompt is not None:
            # The env built its prompt the same way: its ids around the question.
            self._prompt = self.call_format.prompt(self.system_prompt)
        self.max_response_tokens: int | None = _optional(env, "max_response_tokens")
        self._note = CHAT_NOTE if self.spec.tool_format == "markers" else ""
        self.reset()

    def reset(self) -> None:
        """Forget the episode; the next observation starts a new one."""
        self._messages: list[dict[str, Any]] = []
        self._seen = 0  # tokens of the context already turned into messages
        self._pending: tuple[str, str | None] | None = None  # (call id, bridge error)
        self._calls = 0

    @property
    def history(self) -> list[dict[str, Any]]:
        """The messages so far, the last reply included (a copy)."""
        return [dict(message) for message in self._messages]

    # ---- observations -> messages ------------------------------------------------------

    def messages(self, obs: np.ndarray, info: dict[str, Any] | None = None) -> list[dict]:
        """The episode so far as OpenAI-style chat messages (a new list each call).

        ``info`` is the step's info: after a tool call, the result comes from its
        ``tool_calls`` record (so it is needed then).
        """
        obs = np.asarray(obs, dtype=np.int64).reshape(-1)
        if not self._messages or len(obs) < self._seen:
            self.reset()
            self._start(obs)
        elif self._pending is not None and len(obs) > self._seen:
            self._tool_message(info)
        self._seen = len(obs)
        return self.history

    def _start(self, obs: np.ndarray) -> None:
        text = decode(self.spec.tokenizer, obs)
        question = self._question(obs)
        if question is None or self.system_prompt is None:
            system, user = self._note, text
        else:
            prompt = self.system_prompt.rstrip()
            system = f"{prompt}\n\n{self._note}" if self._note else prompt.strip()
            user = question or text
        self._messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]

    def _question(self, obs: np.ndarray) -> str | None:
        """The question's text: the ids between the prompt's head and tail (the format's
        scaffolding, encoded by the env as the bridge re-encodes it), or None when the
        observation does not have that shape."""
        if self._prompt is None:
            return None
        head, tail = self._prompt.head, self._prompt.tail
        end = len(obs) - len(tail)
        if end < len(head) or not (
            np.array_equal(obs[: len(head)], head) and np.array_equal(obs[end:], tail)
        ):
            return None
        return decode(self.spec.tokenizer, obs[len(head) : end]).strip()

    def _tool_message(self, info: dict[str, Any] | None) -> None:
        call_id, error = self._pending
        self._pending = None
        if error is not None:
            # The env answered a deliberately malformed stand-in call (its error talks
            # about a call the model never wrote): the model is told what it got wrong.
            content = f"Error: {error}"
        else:
            content = self._response(info)
        self._messages.append({"role": "tool", "tool_call_id": call_id, "content": content})

    def _response(self, info: dict[str, Any] | None) -> str:
        """The last call's response as the env recorded it, in both formats alike,
        capped as the env capped it in the observation: the model sees what every agent
        of the env sees, no more."""
        calls = (info or {}).get("tool_calls")
        if not calls:
            raise RuntimeError(
                "ChatBridge.messages(obs, info) needs the step's info after a tool call: "
                "the result is read from info['tool_calls']"
            )
        text = str(calls[-1]["response"])
        if self.max_response_tokens is None:
            return text
        tokenizer = self.spec.tokenizer
        ids = encode_text(tokenizer, text)
        if len(ids) <= self.max_response_tokens:
            return text  # not re-decoded: a tokenizer may normalise text it round-trips
        return decode(tokenizer, cap_ids(tokenizer, ids, self.max_response_tokens))

    # ---- reply -> action --------------------------------------------------------------

    def action(self, reply: ChatReply) -> np.ndarray:
        """The env action for ``reply``; the reply joins the messages.

        Only the first function call is used: the env runs one call per turn. The others
        are dropped from the history too, since an API expects a tool message answering
        every call an assistant message holds.
        """
        if not self._messages:
            raise RuntimeError("ChatBridge.action() before messages(obs): show it the episode")
        if reply.tool_calls:
            ids = self._call_action(reply.content, reply.tool_calls[0])
        else:
            answer = "" if reply.refusal else (reply.content or "")
            self._messages.append({"role": "assistant", "content": answer})
            ids = self.call_format.answer_ids(answer)
        # The env keeps the turn up to its max_turn_tokens; what follows it in the next
        # observation is the tool response.
        self._seen += min(len(ids), self.spec.max_turn_tokens)
        return ids

    def _call_action(self, content: str | None, call: FunctionCall) -> np.ndarray:
        self._calls += 1
        call_id = call.id or f"call_{self._calls}"
        self._messages.append(
            {
                "role": "assistant",
                "content": content or None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                ],
            }
        )
        ids, error = self._call_ids(call)
        self._pending = (call_id, error)
        return ids

    def _call_ids(self, call: FunctionCall) -> tuple[np.ndarray, str | None]:
        """The action for ``call`` and, for a call the bridge found malformed, why."""
        error, query = call.error, call.arguments
        tool = self.tools.get(call.name)
        # An unknown tool goes to the env with its arguments as the query: the env answers
        # "unknown tool ..., available: ..." itself and records the name.
        if error is None and tool is not None:
            try:
                query = _query(tool, call.arguments)
            except ToolError as exc:
                error = str(exc)
        if error is None:
            try:
                return self.call_format.call_ids(call.name, query), None
            except ValueError:  # a name the format cannot write (a "<tag>" as marker name)
                known = ", ".join(self.tools) or "none"
                error = f"unknown tool {call.name!r}; available: {known}"
        # A stand-in the env's parser reads as a malformed call: the env records an
        # invalid call (and its penalty), and the model's call stays in the transcript.
        raw = f"{json.dumps(call.name)}: {call.arguments}"
        return self.call_format.malformed_call_ids(raw), error


# ---- the Hermes/Qwen text convention, for local models with a chat template ----------

_TOOL_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|\Z)", re.DOTALL)
_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL)
_HERMES_SHAPE = '<tool_call>{"name": "...", "arguments": {...}}</tool_call>'


def parse_hermes_reply(text: str) -> ChatReply:
    """A generated assistant turn in the Hermes/Qwen convention: ``<tool_call>{"name":
    ..., "arguments": {...}}</tool_call>`` blocks are function calls (an unterminated
    last block too: generation may stop at its token limit), the text before the first
    block is the content. A ``<think>...</think>`` block (Qwen3, DeepSeek-R1) is dropped:
    reasoning is not the answer."""
    text = _THINK.sub("", text)
    start = text.find("<tool_call>")
    if start < 0:
        return ChatReply(content=text.strip())
    calls = tuple(_hermes_call(body.strip()) for body in _TOOL_CALL.findall(text, start))
    return ChatReply(content=text[:start].strip() or None, tool_calls=calls)


def _hermes_call(body: str) -> FunctionCall:
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, RecursionError) as exc:
        return FunctionCall(
            "", body, error=f"the tool call is not JSON ({exc}); write {_HERMES_SHAPE}"
        )
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return FunctionCall(
            "", body, error=f'the tool call needs a "name" string; write {_HERMES_SHAPE}'
        )
    arguments = value.get("arguments", {})
    # Arguments stay JSON text, as an API gives them; a model may also write them as a
    # JSON string already.
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return FunctionCall(value["name"], arguments)
