"""The tool interface: what an environment calls when the agent writes a tool request.

A tool is a small object with a ``name`` (the tag the agent writes, ``<Calculator>``), a
one-line ``description`` (it goes into the system prompt) and ``__call__(query) -> str``,
or ``-> ToolOutput(text, data)`` for a tool whose result also carries structured data
(the search hits) that oracles and tasks read instead of parsing the text.
Tools never raise into the environment: :meth:`Tool.run` turns every failure into a short
error text that becomes the tool response, so a hostile or malformed query is an ordinary
observation for the agent, not a crash.

For JSON tool calls (the chat format, OpenAI-style ``tools=``), every tool also declares
the JSON schema of its arguments: one string argument named by ``argument`` (the
calculator's ``expression``, the Python tool's ``code``). :meth:`Tool.function_schema`
gives the OpenAI/chat-template tool entry and :meth:`Tool.query_from_arguments` turns a
call's ``arguments`` back into the query string, with a clear error for anything else.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import jsonschema

__all__ = ["Tool", "ToolResult", "ToolOutput", "ToolError"]


class ToolError(Exception):
    """Raised inside a tool for an expected failure; the message becomes the response."""


@dataclass(frozen=True)
class ToolOutput:
    """What a tool may return instead of plain text: the ``text`` the agent sees and
    JSON-serialisable ``data`` beside it."""

    text: str
    data: Any = None


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call, as the environment records it: the response text,
    whether the call succeeded, and the tool's structured data (``None`` if it has none,
    and always ``None`` for a failed call)."""

    response: str
    ok: bool
    data: Any = None


class Tool(ABC):
    """Base class of every tool.

    Subclasses set ``name`` and ``description`` and implement :meth:`__call__`, which may
    raise :class:`ToolError` (its message is shown to the agent) or any other exception
    (shown as ``Error: <Type>: <message>``). ``max_output_chars`` caps the text a tool
    returns before the environment caps it again in tokens.
    """

    name: str = ""
    description: str = ""
    max_output_chars: int = 2000
    #: The name of the one string argument of a JSON tool call.
    argument: str = "query"
    #: What that argument holds, for the schema.
    argument_description: str = "the tool's input"

    @abstractmethod
    def __call__(self, query: str) -> str | ToolOutput:
        """Answer ``query``; may raise, :meth:`run` is the safe entry point."""

    def run(self, query: str) -> ToolResult:
        """Call the tool and convert any failure into error text; never raises."""
        data = None
        try:
            response = self(query)
            ok = True
            if isinstance(response, ToolOutput):
                response, data = response.text, response.data
        except ToolError as exc:
            response, ok = f"Error: {exc}", False
        except RecursionError:
            response, ok = "Error: input too deeply nested", False
        except MemoryError:
            response, ok = "Error: out of memory", False
        except Exception as exc:  # noqa: BLE001 - a tool must never crash the env
            response, ok = f"Error: {type(exc).__name__}: {exc}", False
        if not isinstance(response, str):
            response = str(response)
        if len(response) > self.max_output_chars:
            response = response[: self.max_output_chars] + "...[truncated]"
        return ToolResult(response=response, ok=ok, data=data)

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of a JSON tool call's ``arguments``: one required string."""
        return {
            "type": "object",
            "properties": {
                self.argument: {"type": "string", "description": self.argument_description}
            },
            "required": [self.argument],
            "additionalProperties": False,
        }

    def function_schema(self) -> dict[str, Any]:
        """The tool as an OpenAI function tool, the shape chat templates and
        ``/v1/chat/completions`` take in ``tools=``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def query_from_arguments(self, arguments: Any) -> str:
        """The query string of a JSON call's ``arguments`` (a dict, or its JSON text).

        Raises :class:`ToolError` with a message for the agent when the arguments are not
        JSON, not an object, or do not match :attr:`parameters`.
        """
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise ToolError(f"arguments are not valid JSON: {exc}") from None
        try:
            jsonschema.validate(arguments, self.parameters)
        except jsonschema.ValidationError as exc:
            example = json.dumps({self.argument: "..."})
            raise ToolError(
                f"arguments do not match the {self.name} schema ({exc.message}); expected {example}"
            ) from None
        return arguments[self.argument]

    def bind(self, tokenizer: Any, max_response_tokens: int) -> None:
        """Called by the env that runs the tool, once, before any call: the env's
        tokenizer and its cap on a response in tokens. A tool whose output depends on
        them sets itself up here (the search tool fits whole results into the cap, counted
        in the env's tokens). Default: nothing."""

    def close(self) -> None:
        """Release held resources (worker processes, index files). Default: nothing."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
