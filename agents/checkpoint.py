"""Atomic PPO checkpoints and exact resume.

A checkpoint is a folder ``iter-000010/`` holding the policy and the reference
(safetensors, value heads included) and ``trainer_state.pt`` (optimizer, LR scheduler, KL
controller, the torch generator that drives sampling and minibatch order, the iteration and
the config). It is written under a temporary name and renamed into place, and the pointer
file ``latest`` is replaced atomically last, so a kill at any moment leaves either the old
or the new checkpoint, never a torn one.

Resuming takes the checkpoint ``latest`` names; when that one is damaged (a truncated
``trainer_state.pt``, garbage safetensors) or the pointer is gone, it falls back to the
newest intact checkpoint by iteration number, with a warning naming both.

A policy with LoRA adapters keeps its merged weights and ``adapter/`` under ``policy/`` and
its frozen base as ``ref/``; resume rebuilds the adapted policy from those two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from textgym.agents.distributed import Collective
from textgym.agents.lora import adapter_path, load_adapters, save_base
from textgym.agents.ppo import PPO
from textgym.agents.ppo_config import PPOConfig
from textgym.agents.value_head import VALUE_HEAD_FILE, ValueHeadLM
from textgym.fileio import atomic_write_text

__all__ = [
    "save_checkpoint",
    "latest_checkpoint",
    "load_checkpoint",
    "load_latest_intact",
    "checkpoints_newest_first",
    "CheckpointDamaged",
]

LATEST = "latest"
_NAME = re.compile(r"iter-(\d+)")


class CheckpointDamaged(RuntimeError):
    """A checkpoint's files cannot be read back (truncated, garbage or missing)."""


def _iteration_of(path: Path) -> int | None:
    match = _NAME.fullmatch(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def _pointer(root: Path) -> str | None:
    try:
        return (root / LATEST).read_text().strip() or None
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def checkpoints_newest_first(root: str | os.PathLike) -> list[Path]:
    """The checkpoint folders under ``root``: the one ``latest`` names first, then the
    others by iteration number, newest first (never by name: ``iter-1000000`` sorts
    before ``iter-999999`` as text)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = sorted(
        (p for p in root.iterdir() if _iteration_of(p) is not None),
        key=_iteration_of,
        reverse=True,
    )
    named = _pointer(root)
    first = [p for p in found if p.name == named]
    return first + [p for p in found if p.name != named]


def save_checkpoint(ppo: PPO, root: str | os.PathLike, keep: int = 2) -> Path | None:
    """Save ``ppo`` under ``root/iter-NNNNNN`` atomically; keep the newest ``keep``.

    Under data parallelism every process calls it (each one's sampling generator is
    gathered into the checkpoint) and the main process writes; the others get ``None``."""
    generators = ppo.parallel.all_gather_object(ppo.generator.get_state())
    if not ppo.parallel.is_main:
        return None
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"iter-{ppo.iteration:06d}"
    final = root / name
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
    try:
        ppo.policy.save_pretrained(tmp / "policy")
        if ppo.ref is not None:
            ppo.ref.save_pretrained(tmp / "ref")
        else:  # LoRA: the reference is the base under the adapters
            save_base(ppo.policy, tmp / "ref")
        torch.save(
            {
                "iteration": ppo.iteration,
                "optimizer": ppo.optimizer.state_dict(),
                "scheduler": ppo.scheduler.state_dict(),
                "kl_ctl": ppo.kl_ctl.state_dict(),
                "generator": ppo.generator.get_state(),
                "generators": generators,  # one per process
                "scaler": ppo.scaler.state_dict(),  # float16 loss scale ({} when off)
                "config": ppo.config.to_dict(),
            },
            tmp / "trainer_state.pt",
        )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / LATEST, name)
    _prune(root, keep)
    return final


def _prune(root: Path, keep: int) -> None:
    """Keep the newest ``keep`` checkpoints by iteration number, and always the one
    ``latest`` names (a run restarted at a lower iteration must not lose it)."""
    named = _pointer(root)
    by_iteration = sorted(
        (p for p in root.iterdir() if _iteration_of(p) is not None), key=_iteration_of
    )
    for old in by_iteration[:-keep]:
        if old.name != named:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The newest checkpoint folder under ``root`` (``latest``'s first), or ``None``.

    Whether its files are intact is known only on loading: see :func:`load_latest_intact`."""
    found = checkpoints_newest_first(root)
    return found[0] if found else None


def _read_state(path: Path) -> dict:
    """``trainer_state.pt``, or :class:`CheckpointDamaged` saying why not."""
    try:
        # On the host first: the optimizer's load_state_dict moves its state to wherever
        # the parameters are (a GPU run's checkpoint also loads on a CPU-only machine).
        state = torch.load(path / "trainer_state.pt", weights_only=False, map_location="cpu")
        PPOConfig.from_dict(state["config"])
        int(state["iteration"])
        return state
    except (OSError, RuntimeError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointDamaged(f"{path}: trainer_state.pt cannot be read ({exc})") from exc


def _read_models(path: Path) -> tuple[ValueHeadLM, ValueHeadLM | None]:
    try:
        if adapter_path(path / "policy").is_dir():
            # LoRA: the base weights plus the saved adapters and value head; the reference
            # is that same model with the adapters off.
            policy = ValueHeadLM.from_pretrained(path / "ref")
            policy.v_head.load_state_dict(load_file(str(path / "policy" / VALUE_HEAD_FILE)))
            return load_adapters(policy, adapter_path(path / "policy")), None
        policy = ValueHeadLM.from_pretrained(path / "policy")
        return policy, ValueHeadLM.from_pretrained(path / "ref").frozen_copy()
    except (OSError, RuntimeError, ValueError, SafetensorError, json.JSONDecodeError) as exc:
        raise CheckpointDamaged(f"{path}: its model files cannot be read ({exc})") from exc


def load_checkpoint(path: str | os.PathLike, envs, parallel: Collective | None = None) -> PPO:
    """Rebuild the trainer saved at ``path`` on ``envs``: the next :meth:`PPO.step` is the
    one an uninterrupted run would have made (with the same number of processes).

    Raises :class:`CheckpointDamaged` when a file of the checkpoint cannot be read."""
    path = Path(path)
    state = _read_state(path)
    config = PPOConfig.from_dict(state["config"])
    policy, ref = _read_models(path)
    ppo = PPO(envs, policy, config, ref=ref, parallel=parallel)
    generators = state.get("generators", [state["generator"]])
    if len(generators) != ppo.parallel.world_size:
        raise ValueError(
            f"{path} was written by {len(generators)} process(es); resume it with as many "
            f"(this run has {ppo.parallel.world_size})"
        )
    ppo.optimizer.load_state_dict(state["optimizer"])
    ppo.scheduler.load_state_dict(state["scheduler"])
    ppo.kl_ctl.load_state_dict(state["kl_ctl"])
    if state.get("scaler"):
        ppo.scaler.load_state_dict(state["scaler"])
    ppo.generator.set_state(generators[ppo.parallel.rank])
    ppo.iteration = int(state["iteration"])
    return ppo


def load_latest_intact(
    root: str | os.PathLike, envs, parallel: Collective | None = None
) -> tuple[PPO, Path]:
    """The trainer from the newest intact checkpoint under ``root``.

    A damaged checkpoint is skipped with a warning that names it and the one used
    instead. Raises ``FileNotFoundError`` when there is none, or none intact."""
    candidates = checkpoints_newest_first(root)
    if not candidates:
        raise FileNotFoundError(f"--resume: no checkpoint under {root}")
    named = _pointer(Path(root))
    if named is None or not (Path(root) / named).is_dir():
        warnings.warn(
            f"{root}/{LATEST} is missing or names no checkpoint ({named!r}); using the "
            f"newest by iteration number, {candidates[0].name}",
            stacklevel=2,
        )
    damaged: list[str] = []
    for path in candidates:
        try:
            ppo = load_checkpoint(path, envs, parallel)
        except CheckpointDamaged as exc:
            damaged.append(str(exc))
            continue
        if damaged:
            warnings.warn(
                "skipped damaged checkpoint(s): " + "; ".join(damaged)
                + f". Resuming from {path} (iteration {ppo.iteration}) instead",
                stacklevel=2,
            )
        return ppo, path
    raise FileNotFoundError(
        f"--resume: every checkpoint under {root} is damaged: " + "; ".join(damaged)
    )
