"""LoRA adapters for the policy, through peft (the optional ``textgym[peft]`` extra).

With adapters, the base weights are frozen and only the low-rank adapters and the value
head train. The KL reference is then the *same* model with its adapters switched off
(:meth:`ValueHeadLM.adapters_disabled`), so PPO keeps one copy of the base weights instead
of two, and Adam keeps moments for the adapters only. ``benchmarks/lora_memory.py``
measures what that saves.

Saving: :meth:`ValueHeadLM.save_pretrained` of an adapted policy writes the merged
weights (a plain model every loader takes, peft not needed) and the adapters beside them
in ``adapter/``; a PPO checkpoint also keeps the base as ``ref/``, and
:func:`load_adapters` rebuilds the trainable adapted policy from the two on resume.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from textgym.checks import positive_int

if TYPE_CHECKING:  # annotations only: value_head saves adapters with this module
    from textgym.agents.value_head import ValueHeadLM

__all__ = [
    "LoraSettings",
    "add_lora",
    "load_adapters",
    "merged_copy",
    "training_state_bytes",
    "plain_state_dict",
    "save_base",
]

ADAPTER_DIR = "adapter"


def _peft():
    try:
        import peft
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("LoRA adapters need peft: pip install 'textgym[peft]'") from err
    return peft


@dataclass(frozen=True)
class LoraSettings:
    """rank (8), alpha (16): the adapters' rank and scale (alpha / rank).
    target_modules (None): module names to adapt; None takes peft's default for the
    architecture (GPT-2: the fused attention projection ``c_attn``; T5: ``q`` and ``v``)."""

    rank: int = 8
    alpha: float = 16.0
    target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        positive_int("LoRA rank", self.rank)
        if not self.alpha > 0:
            raise ValueError(f"LoRA alpha must be > 0, got {self.alpha!r}")


def add_lora(policy: ValueHeadLM, settings: LoraSettings | None = None) -> ValueHeadLM:
    """Wrap ``policy``'s language model with fresh LoRA adapters, in place; the base
    weights are frozen, the value head stays trainable. The adapters start at zero (peft
    initialises B to 0), so the adapted policy starts equal to the base."""
    peft = _peft()
    if policy.has_adapters:
        raise ValueError("this policy already carries adapters")
    s = settings or LoraSettings()
    config = peft.LoraConfig(
        r=s.rank,
        lora_alpha=s.alpha,
        lora_dropout=0.0,  # dropout-free, like the rest of the policy
        target_modules=list(s.target_modules) if s.target_modules else None,
        fan_in_fan_out=policy.config.model_type == "gpt2",  # GPT-2's Conv1D layout
    )
    policy.model = peft.get_peft_model(policy.model, config)
    for p in policy.v_head.parameters():
        p.requires_grad_(True)
    return policy


def load_adapters(
    base: ValueHeadLM, adapter_dir: str | os.PathLike, *, trainable: bool = True
) -> ValueHeadLM:
    """Put saved adapters on ``base`` (in place) and return it."""
    peft = _peft()
    policy = base
    policy.model = peft.PeftModel.from_pretrained(
        policy.model, str(adapter_dir), is_trainable=trainable
    )
    return policy


def plain_state_dict(policy: ValueHeadLM, *, merge: bool) -> dict[str, torch.Tensor]:
    """The LM's weights under their original names, without peft's wrappers: with the
    adapters merged in (the trained policy) or without them (the frozen base, i.e. the
    reference). Only adapted layers are computed anew; every other tensor is shared with
    the model, so saving costs no copy of the whole model."""
    inner = policy.model.get_base_model()
    deltas: dict[str, torch.Tensor] = {}
    if merge:
        for name, module in inner.named_modules():
            if hasattr(module, "base_layer") and hasattr(module, "get_delta_weight"):
                for adapter in module.active_adapters:
                    delta = module.get_delta_weight(adapter).detach()
                    key = f"{name}.weight"
                    deltas[key] = deltas[key] + delta if key in deltas else delta
    out = {}
    for key, tensor in inner.state_dict().items():
        if "lora_" in key:
            continue
        clean = key.replace(".base_layer.", ".")
        out[clean] = tensor + deltas[clean] if clean in deltas else tensor
    return out


def save_base(policy: ValueHeadLM, path: str | os.PathLike) -> None:
    """Save the frozen base under the adapters (with the current value head) as a plain
    :class:`ValueHeadLM` folder: a LoRA checkpoint's reference."""
    policy.write(path, plain_state_dict(policy, merge=False))


def merged_copy(policy: ValueHeadLM) -> ValueHeadLM:
    """A plain copy with the adapters merged into the weights: the trained policy."""
    twin = copy.deepcopy(policy)
    twin.model = twin.model.merge_and_unload()
    return twin


def adapter_path(folder: str | os.PathLike) -> Path:
    return Path(folder) / ADAPTER_DIR


def training_state_bytes(ppo) -> int:
    """Bytes of every distinct tensor a PPO trainer holds: policy, reference and optimizer
    state. Shared storage counts once, so a reference that *is* the policy costs 0."""
    tensors = list(ppo.policy.state_dict().values())
    if ppo.ref is not None:
        tensors += list(ppo.ref.state_dict().values())
    for state in ppo.optimizer.state.values():
        tensors += [t for t in state.values() if torch.is_tensor(t)]
    seen: set[int] = set()
    total = 0
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr() not in seen:
            seen.add(storage.data_ptr())
            total += storage.nbytes()
    return total
