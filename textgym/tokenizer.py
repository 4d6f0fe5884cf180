"""Tokenizers: the default offline ByT5 tokenizer with the four protocol markers, and the
two encode/decode helpers every env uses.

Why ByT5 by default: it needs no files (works offline, builds in well under a millisecond),
is lossless on any text, and gives every byte its own id, so a tiny model can learn
arithmetic digit by digit. Any Hugging Face tokenizer can replace it; :func:`make_tokenizer`
adds the markers when missing. Size models from ``len(tokenizer)``, not ``vocab_size``
(which excludes the added markers).

Two rules learned from TRL's TextEnvironment on this tokenizer:

* ByT5's ``encode`` appends ``</s>`` unless ``add_special_tokens=False``; TRL's env put an
  EOS in the middle of every episode that way. :func:`encode_text` never adds one.
* Text that the agent did not write (task prompts, tool output) must never turn into marker
  tokens, or a tool response containing ``<submit>`` would end the episode. :func:`encode_text`
  encodes such text with special tokens split into ordinary pieces.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from transformers import AutoTokenizer, ByT5Tokenizer, PreTrainedTokenizerBase

__all__ = [
    "MARKERS",
    "REQUEST",
    "CALL",
    "RESPONSE",
    "SUBMIT",
    "make_tokenizer",
    "load_tokenizer",
    "ensure_pad",
    "encode_text",
    "encode_agent_text",
    "decode",
    "marker_ids",
]

REQUEST, CALL, RESPONSE, SUBMIT = "<request>", "<call>", "<response>", "<submit>"
MARKERS: tuple[str, ...] = (REQUEST, CALL, RESPONSE, SUBMIT)

# ByT5 ids: 0 pad, 1 eos, 2 unk, then byte b has id b + 3.
_BYT5_OFFSET = 3


def make_tokenizer(
    name_or_path: str | os.PathLike | PreTrainedTokenizerBase | None = None,
) -> PreTrainedTokenizerBase:
    """Return a tokenizer with the four protocol markers as single special tokens.

    Args:
        name_or_path: ``None`` for the default ByT5 tokenizer; a local directory of any
            Hugging Face tokenizer (loaded with ``local_files_only=True``: textgym never
            needs a hub); or a tokenizer object, which is extended in place.

    The markers are added as additional special tokens when missing, so each is one id.
    A tokenizer without a pad token gets its EOS token as pad.
    """
    tokenizer = load_tokenizer(name_or_path)
    missing = [m for m in MARKERS if m not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": missing}, replace_extra_special_tokens=False
        )
    for marker in MARKERS:
        ids = tokenizer.encode(marker, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(
                f"tokenizer cannot represent marker {marker!r} as a single token "
                f"(got ids {ids}); use a tokenizer that accepts added special tokens"
            )
    return ensure_pad(tokenizer)


def load_tokenizer(
    name_or_path: str | os.PathLike | PreTrainedTokenizerBase | None = None,
) -> PreTrainedTokenizerBase:
    """The tokenizer as given, nothing added: ``None`` is plain ByT5, a path is a local
    folder (never the hub), a tokenizer object is returned itself."""
    if name_or_path is None:
        return ByT5Tokenizer(extra_ids=0)
    if isinstance(name_or_path, PreTrainedTokenizerBase):
        return name_or_path
    path = os.fspath(name_or_path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"tokenizer path {path!r} is not a directory; pass None for the built-in "
            "ByT5 tokenizer or a local folder saved with save_pretrained()"
        )
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def ensure_pad(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give a tokenizer without a pad token its EOS token as pad (in place)."""
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise ValueError("tokenizer has neither a pad nor an EOS token; add one of them")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def marker_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The id of each marker string."""
    return {m: tokenizer.convert_tokens_to_ids(m) for m in MARKERS}


def _is_byt5(tokenizer: PreTrainedTokenizerBase) -> bool:
    return isinstance(tokenizer, ByT5Tokenizer)


def encode_text(tokenizer: PreTrainedTokenizerBase, text: str) -> np.ndarray:
    """Encode untrusted text (prompts, tool output): no EOS, no marker or special tokens.

    A literal ``<submit>`` inside the text becomes ordinary pieces, so only the agent can
    produce protocol markers.
    """
    if _is_byt5(tokenizer):
        # Fast path, and exact: ByT5 maps UTF-8 bytes to ids one to one.
        raw = np.frombuffer(text.encode("utf-8", errors="replace"), dtype=np.uint8)
        return raw.astype(np.int64) + _BYT5_OFFSET
    ids = tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return np.asarray(ids, dtype=np.int64)


def encode_agent_text(tokenizer: PreTrainedTokenizerBase, text: str) -> np.ndarray:
    """Encode text written by an agent: marker strings become marker tokens, no EOS added."""
    return np.asarray(tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)


def decode(tokenizer: PreTrainedTokenizerBase, ids: Sequence[int] | np.ndarray) -> str:
    """Decode ids to text, keeping markers and special tokens visible.

    For ByT5 this maps bytes directly: ``ByT5Tokenizer.decode`` is super-linear on long
    inputs. Invalid UTF-8 (an agent turn may end mid-character) becomes U+FFFD, never
    silently dropped.
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if not _is_byt5(tokenizer):
        return tokenizer.decode(ids.tolist(), skip_special_tokens=False)
    byte_mask = (ids >= _BYT5_OFFSET) & (ids < _BYT5_OFFSET + 256)
    if byte_mask.all():
        return (ids - _BYT5_OFFSET).astype(np.uint8).tobytes().decode("utf-8", "replace")
    parts: list[str] = []
    start = 0
    # Split at the non-byte ids (pad, eos, unk, markers); decode byte runs in one go.
    for pos in np.flatnonzero(~byte_mask):
        if pos > start:
            run = (ids[start:pos] - _BYT5_OFFSET).astype(np.uint8).tobytes()
            parts.append(run.decode("utf-8", "replace"))
        token_id = int(ids[pos])
        token = (
            tokenizer.convert_ids_to_tokens(token_id) if 0 <= token_id < len(tokenizer) else None
        )
        parts.append(token if token is not None else tokenizer.unk_token)
        start = pos + 1
    if start < len(ids):
        run = (ids[start:] - _BYT5_OFFSET).astype(np.uint8).tobytes()
        parts.append(run.decode("utf-8", "replace"))
    return "".join(parts)
