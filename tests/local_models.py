"""Real-model stand-ins built locally, with no hub: a byte-level BPE tokenizer trained in
the test with the ``tokenizers`` library, carrying a ChatML chat template with tools (the
Qwen/Hermes convention), and tiny Llama- and Qwen2-architecture causal LMs (rotary
positions, grouped-query attention) built from configs.

Tests import these helpers; nothing here downloads anything.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    BertConfig,
    BertForSequenceClassification,
    ByT5Tokenizer,
    LlamaConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

__all__ = [
    "CHATML_TOOLS_TEMPLATE",
    "ARCHS",
    "bpe_tokenizer",
    "tiny_causal_lm",
    "save_local_model",
    "tiny_classifier",
]

#: ChatML with a tools block and ``tool`` messages, in the shape of Qwen2.5's template:
#: tools go into the system message as JSON schemas, assistant tool calls are
#: ``<tool_call>{json}</tool_call>``, tool results are ``<tool_response>`` inside a user turn.
CHATML_TOOLS_TEMPLATE = (
    "{%- if tools %}"
    "{{- '<|im_start|>system\\n' }}"
    "{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] + '\\n\\n' }}{%- endif %}"
    "{{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n'"
    " + '<tools>' }}"
    "{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}"
    "{{- '\\n</tools>\\n\\nFor each function call, return a json object within "
    '<tool_call></tool_call> tags:\\n<tool_call>\\n{\\"name\\": <function-name>, '
    '\\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\' }}'
    "{%- elif messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}"
    "{{- '<|im_start|>user\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- elif message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' + (message['content'] or '') }}"
    "{%- for call in message.get('tool_calls') or [] %}"
    "{%- set fn = call['function'] if call['function'] is defined else call %}"
    "{{- '<tool_call>\\n{\\\"name\\\": \\\"' + fn['name'] + '\\\", \\\"arguments\\\": '"
    " + (fn['arguments'] if fn['arguments'] is string else fn['arguments'] | tojson)"
    " + '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- elif message['role'] == 'tool' %}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message['content']"
    " + '\\n</tool_response><|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"]

_CORPUS = [
    "What is 12*34? Result=408",
    "Calculator Python WikiSearch print(6*7) def f(x): return x + 1",
    "The film was wonderful, a great story and a fine cast.",
    "Who founded the city of Arlen? Answer: Mara Venn",
    '{"name": "Calculator", "arguments": {"expression": "2+3"}}',
    "0123456789 + - * / ( ) = . , : ; ' \" [ ] { } < > ? ! \n",
]


def bpe_tokenizer(vocab_size: int = 400, *, chat_template: bool = True) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained here, in well under a second. Byte-level, so it
    is lossless on any text; ``<|im_start|>`` and friends are special tokens (single ids),
    ``<|endoftext|>`` is EOS and pad. With ``chat_template`` it carries
    :data:`CHATML_TOOLS_TEMPLATE`."""
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(_CORPUS * 20, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=_SPECIALS[1:],
    )
    if chat_template:
        tokenizer.chat_template = CHATML_TOOLS_TEMPLATE
    return tokenizer


#: The architectures the real-model tests cover: both have rotary positions and
#: grouped-query attention (4 query heads sharing 2 key/value heads).
ARCHS = ("llama", "qwen2")


def tiny_causal_lm(arch: str, vocab_size: int, *, n_positions: int = 1024, eos_id: int = 0):
    """A 2-layer, 64-wide causal LM of ``arch`` ("llama" or "qwen2") from a config."""
    common = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=n_positions,
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
    )
    if arch == "llama":
        config = LlamaConfig(**common)
    elif arch == "qwen2":
        config = Qwen2Config(**common)
    else:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    return AutoModelForCausalLM.from_config(config)


def save_local_model(folder: Path, arch: str, *, chat_template: bool = True) -> Path:
    """A Hugging Face model folder (model + tokenizer) of ``arch``, as a user's local
    checkpoint would be: ``from_pretrained(folder)`` loads both. Returns ``folder``."""
    tokenizer = bpe_tokenizer(chat_template=chat_template)
    model = tiny_causal_lm(arch, len(tokenizer), eos_id=tokenizer.eos_token_id)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_classifier(path: Path, positive_bias: float, labels=("NEGATIVE", "POSITIVE")) -> Path:
    """A local 2-label text classifier whose output ignores the text: its second label
    gets logit ``positive_bias``, the first 0."""
    tok = ByT5Tokenizer(extra_ids=0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, positive_bias]))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
