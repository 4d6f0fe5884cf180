"""One rule for what a model path means, used by every loader (``ppo:``, ``hf:``,
``--init``, :class:`PolicyAgent`, :meth:`ValueHeadLM.from_pretrained`).

:func:`resolve_model_dir` maps a folder to the model folder inside it, trying in order:

1. ``PATH/config.json``: ``PATH`` is the model (a plain Hugging Face folder, a ``policy/``
   or ``ref/`` folder, an old SFT run that saved its model at the root).
2. ``PATH/policy/config.json``: ``PATH`` is a run (PPO or SFT) or a checkpoint
   ``iter-N/``; the model is its ``policy/``.
3. ``PATH/latest``: ``PATH`` is a ``checkpoints/`` folder; the model is the ``policy/`` of
   the checkpoint that ``latest`` names.
4. ``PATH/checkpoints/latest``: ``PATH`` is a PPO run stopped before it wrote ``policy/``;
   the model is its latest checkpoint's.
5. ``PATH`` holds runs (``make demo`` writes ``sft/`` and ``ppo/``): the subfolders that
   rules 1-4 resolve are the candidates. One candidate is the model; among several, the
   one named ``ppo`` is (PPO is the final stage: it starts from the SFT model); otherwise
   the path is ambiguous and refused, listing the candidates.

Anything else raises :class:`FileNotFoundError` naming what was looked for, before
transformers sees the folder (its "Unrecognized model" error says nothing about layouts).

:func:`resolve_tokenizer_dir` finds the tokenizer for ``hf:``: the model folder when it has
tokenizer files, else the nearest folder of the same run that has them.

This module imports nothing from textgym: the loaders import it, not the other way round.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "resolve_model_dir",
    "resolve_tokenizer_dir",
    "has_tokenizer",
    "CONFIG_FILE",
    "POLICY_DIR",
    "LATEST_POINTER",
    "FINAL_STAGE",
    "TOKENIZER_FILES",
]

CONFIG_FILE = "config.json"
POLICY_DIR = "policy"
# The pointer file that textgym.agents.checkpoint writes in checkpoints/ (its LATEST).
LATEST_POINTER = "latest"
CHECKPOINTS_DIR = "checkpoints"
# Of several runs in one folder, the one whose model is the end result (make demo: sft/
# then ppo/, where ppo/ starts from sft/'s model).
FINAL_STAGE = "ppo"
# tokenizer.save_pretrained always writes tokenizer_config.json; some hub folders ship
# only tokenizer.json. Without either, AutoTokenizer quietly builds an empty tokenizer.
TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json")

_LOOKED_FOR = (
    f"{CONFIG_FILE}, {POLICY_DIR}/{CONFIG_FILE}, {LATEST_POINTER} (a checkpoints/ folder), "
    f"{CHECKPOINTS_DIR}/{LATEST_POINTER}, and runs in its subfolders"
)


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """The model folder ``path`` means (the rule in this module's docstring).

    Raises:
        FileNotFoundError: ``path`` is not a folder, or holds no model by the rule.
        ValueError: ``path`` holds several runs and none is the final stage.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no model folder at {str(path)!r}")
    found = _model_in(path)
    if found is not None:
        return found
    candidates = {
        child.name: model
        for child in sorted(p for p in path.iterdir() if p.is_dir())
        if (model := _model_in(child)) is not None
    }
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if FINAL_STAGE in candidates:
        return candidates[FINAL_STAGE]
    if candidates:
        listed = ", ".join(str(path / name) for name in candidates)
        raise ValueError(
            f"{str(path)!r} holds several runs ({listed}) and none named {FINAL_STAGE!r}; "
            "pass the one you mean"
        )
    raise FileNotFoundError(
        f"{str(path)!r} holds no model: looked for {_LOOKED_FOR}; pass a folder saved with "
        "save_pretrained or a `textgym train --out` folder"
    )


def _model_in(path: Path) -> Path | None:
    """Rules 1-4 for one folder: its model folder, or ``None``."""
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / POLICY_DIR / CONFIG_FILE).is_file():
        return path / POLICY_DIR
    for checkpoints in (path, path / CHECKPOINTS_DIR):
        pointer = checkpoints / LATEST_POINTER
        if pointer.is_file():
            return _latest_policy(pointer)
    return None


def _latest_policy(pointer: Path) -> Path:
    checkpoint = pointer.parent / pointer.read_text().strip()
    policy = checkpoint / POLICY_DIR
    if not (policy / CONFIG_FILE).is_file():
        # A pointer to a missing checkpoint is a broken run, not "no model here".
        raise FileNotFoundError(
            f"{str(pointer)!r} names {str(checkpoint)!r}, which holds no "
            f"{POLICY_DIR}/{CONFIG_FILE}; the checkpoint is missing or incomplete"
        )
    return policy


def has_tokenizer(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a saved tokenizer (any of :data:`TOKENIZER_FILES`)."""
    return any((Path(path) / name).is_file() for name in TOKENIZER_FILES)


def resolve_tokenizer_dir(path: str | os.PathLike) -> Path:
    """The folder with the tokenizer of the model ``path`` means: the model folder if it
    has tokenizer files, else ``path`` itself, then the run around the model (a checkpoint
    folder, the run's root and the run's ``policy/``): a checkpoint's policy shares its
    run's tokenizer.

    Raises:
        FileNotFoundError: no tokenizer in any of those, or no model (as
            :func:`resolve_model_dir`).
    """
    model = resolve_model_dir(path)
    looked = _tokenizer_candidates(Path(path), model)
    for folder in looked:
        if has_tokenizer(folder):
            return folder
    names = ", ".join(repr(str(f)) for f in looked)
    raise FileNotFoundError(
        f"{str(path)!r} has no tokenizer (looked for {' or '.join(TOKENIZER_FILES)} in "
        f"{names}). A model trained by textgym uses the env's tokenizer: evaluate it with "
        f"ppo:{path}. Or save a tokenizer beside the model: "
        f"tokenizer.save_pretrained({str(model)!r})"
    )


def _tokenizer_candidates(given: Path, model: Path) -> list[Path]:
    folders = [model, given]
    if model.name == POLICY_DIR:
        owner = model.parent  # a run, or a checkpoint iter-N
        folders.append(owner)
        if owner.parent.name == CHECKPOINTS_DIR:
            run = owner.parent.parent
            folders += [run / POLICY_DIR, run]
    unique: list[Path] = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique
