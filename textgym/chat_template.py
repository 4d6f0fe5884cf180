"""The chat format's setup: which tool formats exist, the tokens and the compact template
the default ByT5 tokenizer gains for chat, and the env's tokenizer for a format.

Kept apart from :mod:`textgym.chat_format` (which reads and writes turns) so that each
module stays small; :mod:`textgym.chat_format` re-exports every name here.
"""

from __future__ import annotations

from typing import Any

from transformers import ByT5Tokenizer, PreTrainedTokenizerBase

from textgym.tokenizer import ensure_pad, load_tokenizer, make_tokenizer

__all__ = [
    "TOOL_FORMATS",
    "OPEN",
    "CLOSE",
    "CHAT_SPECIALS",
    "BYT5_CHAT_TEMPLATE",
    "NO_TEMPLATE",
    "check_tool_format",
    "make_format_tokenizer",
]

#: The tool-call formats an env accepts as ``tool_format``.
TOOL_FORMATS = ("markers", "chat")
#: The tags around a chat tool call's JSON (Hermes/Qwen).
OPEN, CLOSE = "<tool_call>", "</tool_call>"
#: The tokens the default ByT5 tokenizer gains in chat mode (single ids 259 to 262).
CHAT_SPECIALS = ("<|im_start|>", "<|im_end|>", OPEN, CLOSE)

#: ChatML with tools, compact: a tiny model reads every byte of the system prompt in every
#: episode, so each tool is one line ``Name(argument): description`` (read from its JSON
#: schema) and the call syntax one more, instead of the full schemas.
BYT5_CHAT_TEMPLATE = (
    "{%- if messages and messages[0].role == 'system' %}"
    "{%- set system = messages[0].content %}{%- set turns = messages[1:] %}"
    "{%- else %}{%- set system = '' %}{%- set turns = messages %}{%- endif %}"
    "{%- if system or tools %}{{ '<|im_start|>system\\n' + system }}"
    "{%- for t in tools or [] %}{{ '\\n' + t.function.name }}("
    "{{- t.function.parameters.properties | list | join(', ') }}): {{ t.function.description }}"
    "{%- endfor %}"
    '{%- if tools %}{{ \'\\nCall: <tool_call>{"name": ..., "arguments": {...}}</tool_call>\' }}'
    "{%- endif %}{{ '<|im_end|>\\n' }}{%- endif %}"
    "{%- for m in turns %}{{ '<|im_start|>' + m.role + '\\n' + (m.content or '') }}"
    "{%- for c in m.tool_calls or [] %}{%- set f = c.function or c %}"
    '{{- \'<tool_call>{"name": "\' + f.name + \'", "arguments": \' }}'
    "{{- f.arguments if f.arguments is string else f.arguments | tojson }}}</tool_call>"
    "{%- endfor %}{{ '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

#: Why a tokenizer without a chat template cannot play the chat format.
NO_TEMPLATE = (
    "tool_format='chat' renders episodes with the tokenizer's chat template, and this "
    "tokenizer has none; pass a tokenizer with a chat_template (or set "
    "tokenizer.chat_template), or use tool_format='markers'"
)


def check_tool_format(tool_format: str) -> str:
    """``tool_format`` itself, or a ``ValueError`` naming the known formats."""
    if tool_format not in TOOL_FORMATS:
        raise ValueError(f"tool_format must be one of {TOOL_FORMATS}, got {tool_format!r}")
    return tool_format


def make_format_tokenizer(name_or_path: Any, tool_format: str) -> PreTrainedTokenizerBase:
    """The env's tokenizer for ``tool_format``.

    Markers: :func:`~textgym.tokenizer.make_tokenizer` (the four markers added). Chat:
    ``None`` is ByT5 plus :data:`CHAT_SPECIALS` and :data:`BYT5_CHAT_TEMPLATE` (263 ids,
    as with the markers); a given tokenizer is used as it is, nothing added (its model
    already knows its template), and must carry a chat template.
    """
    if check_tool_format(tool_format) == "markers":
        return make_tokenizer(name_or_path)
    tokenizer = load_tokenizer(name_or_path)
    if name_or_path is None and isinstance(tokenizer, ByT5Tokenizer):
        tokenizer.add_special_tokens(
            {"additional_special_tokens": list(CHAT_SPECIALS)}, replace_extra_special_tokens=False
        )
        tokenizer.chat_template = BYT5_CHAT_TEMPLATE
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(NO_TEMPLATE)
    return ensure_pad(tokenizer)
