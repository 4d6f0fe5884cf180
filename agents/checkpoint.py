"""Atomic PPO checkpoints and exact resume.

A checkpoint is a folder ``iter-000010/`` holding the policy and the reference
(safetensors, value heads included) and ``trainer_state.pt`` (optimizer, LR scheduler, KL
controller, the torch generator that drives sampling and minibatch order, the iteration and
the config). It is written under a temporary name and renamed into place, and the pointer
file ``latest`` is replaced atomically last, so a kill at any moment leaves either the old
or the new checkpoint, never a torn one.

A policy with LoRA adapters keeps its merged weights and ``adapter/`` under ``policy/`` and
its frozen base as ``ref/``; resume rebuilds the adapted policy from those two.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from textgym.agents.distributed import Collective
from textgym.agents.lora import adapter_path
from textgym.agents.ppo import PPO
from textgym.agents.ppo_config import PPOConfig
from textgym.agents.value_head import VALUE_HEAD_FILE, ValueHeadLM
from textgym.fileio import atomic_write_text

__all__ = ["save_checkpoint", "latest_checkpoint", "load_checkpoint"]

LATEST = "latest"


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
            from textgym.agents.lora import save_base

            save_base(ppo.policy, tmp / "ref")
        torch.save(
            {
                "iteration": ppo.iteration,
                "optimizer": ppo.optimizer.state_dict(),
                "scheduler": ppo.scheduler.state_dict(),
                "kl_ctl": ppo.kl_ctl.state_dict(),
                "generator": ppo.generator.get_state(),
                "generators": generators,  # one per process
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
    done = sorted(p for p in root.glob("iter-*") if p.is_dir())
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    """The checkpoint ``latest`` points to, or ``None`` when there is none."""
    pointer = Path(root) / LATEST
    if not pointer.exists():
        return None
    path = Path(root) / pointer.read_text().strip()
    if not (path / "trainer_state.pt").exists():
        raise FileNotFoundError(f"checkpoint pointer names {path}, which is incomplete")
    return path


def load_checkpoint(path: str | os.PathLike, envs, parallel: Collective | None = None) -> PPO:
    """Rebuild the trainer saved at ``path`` on ``envs``: the next :meth:`PPO.step` is the
    one an uninterrupted run would have made (with the same number of processes)."""
    path = Path(path)
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    config = PPOConfig.from_dict(state["config"])
    if adapter_path(path / "policy").is_dir():
        # LoRA: the base weights plus the saved adapters and value head; the reference is
        # that same model with the adapters off.
        from textgym.agents.lora import load_adapters

        policy = ValueHeadLM.from_pretrained(path / "ref")
        policy.v_head.load_state_dict(load_file(str(path / "policy" / VALUE_HEAD_FILE)))
        policy, ref = load_adapters(policy, adapter_path(path / "policy")), None
    else:
        policy = ValueHeadLM.from_pretrained(path / "policy")
        ref = ValueHeadLM.from_pretrained(path / "ref").frozen_copy()
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
    ppo.generator.set_state(generators[ppo.parallel.rank])
    ppo.iteration = int(state["iteration"])
    return ppo


def read_config(path: str | os.PathLike) -> dict:
    """The PPOConfig stored in a checkpoint, as a dict (for the CLI's messages)."""
    state = torch.load(Path(path) / "trainer_state.pt", weights_only=False)
    return json.loads(json.dumps(state["config"]))
