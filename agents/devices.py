"""Where a policy runs and in which precision: the one reading of ``device`` and ``dtype``.

Every trainer config (``PPOConfig``, ``SFTConfig``, ``RewardConfig``) and the CLI's
``--device``/``--dtype`` flags go through :func:`resolve_device` and :func:`resolve_dtype`,
so a bad value gets the same clear message everywhere, naming what this machine has.

After placement, every tensor a step creates is put on the policy's own device
(:func:`module_device`), never assumed to be the CPU; tests/test_devices.py checks that.

Precision: weights stay float32 (the optimizer's master copy); ``bfloat16``/``float16``
run the LM's forward passes under ``torch.autocast`` (:func:`autocast`). Log-probs are
taken with a float32 softmax of the logits, and the value head, advantages, ratios and
KL are computed in float32 (the value head reads the hidden state cast back to float32).
float16 gradients are scaled (:func:`grad_scaler`) so small ones do not flush to zero.
"""

from __future__ import annotations

import os
import re
from contextlib import nullcontext

import torch

__all__ = [
    "DEVICE_CHOICES",
    "DTYPE_CHOICES",
    "check_device_name",
    "check_dtype_name",
    "available_devices",
    "resolve_device",
    "resolve_dtype",
    "module_device",
    "place",
    "autocast",
    "grad_scaler",
]

#: What ``device`` settings accept; ``cuda:N`` means any GPU index.
DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
#: What ``dtype`` settings accept, and the torch dtype each names.
DTYPE_CHOICES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def available_devices() -> list[str]:
    """The devices this machine has, as ``device`` strings."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device_name(name: str, setting: str = "device") -> str:
    """``name`` when it is a device string at all (whether this machine has it is
    :func:`resolve_device`'s question: a config may be read on another machine)."""
    if not isinstance(name, str) or not _DEVICE.fullmatch(name):
        raise ValueError(
            f"{setting} must be one of {', '.join(DEVICE_CHOICES)}; got {name!r} "
            f"(this machine has: {', '.join(available_devices())})"
        )
    return name


def check_dtype_name(name: str, setting: str = "dtype") -> str:
    if name not in DTYPE_CHOICES:
        raise ValueError(f"{setting} must be one of {', '.join(DTYPE_CHOICES)}; got {name!r}")
    return name


def _local_rank() -> int | None:
    """The process's GPU under ``accelerate launch``/``torchrun`` (one GPU per process)."""
    rank = os.environ.get("LOCAL_RANK")
    return int(rank) if rank is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None


def resolve_device(name: str | torch.device = "cpu") -> torch.device:
    """The ``torch.device`` a setting names on this machine, or a ``ValueError`` saying
    what is available. ``auto``: CUDA when there is a GPU, else MPS, else the CPU. Under a
    multi-process launcher ``cuda`` and ``auto`` mean this process's own GPU
    (``cuda:LOCAL_RANK``)."""
    if isinstance(name, torch.device):
        name = str(name)
    check_device_name(name)
    have = available_devices()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif torch.backends.mps.is_available():
            name = "mps"
        else:
            return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device 'cuda' asked for, but CUDA is not available here (this machine has: "
                f"{', '.join(have)}; torch {torch.__version__}). Use --device cpu or auto"
            )
        rank = _local_rank()
        name = f"cuda:{rank if rank is not None else torch.cuda.current_device()}"
    if name.startswith("cuda:") and name not in have:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise ValueError(
            f"device {name!r} asked for, but this machine has {count} CUDA device(s) "
            f"(available: {', '.join(have)})"
        )
    if name == "mps" and "mps" not in have:
        raise ValueError(f"device 'mps' is not available here (available: {', '.join(have)})")
    return torch.device(name)


def _cpu_has_bf16() -> bool:
    # oneDNN's check: AVX512-BF16/AMX (or AVX512 core, which emulates it at speed).
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(probe()) if probe is not None else False


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """The compute dtype a setting names, checked against ``device``."""
    check_dtype_name(name)
    if device.type == "cpu" and name == "float16":
        raise ValueError(
            "dtype float16 is not supported on the CPU (half-precision matmuls there are "
            "missing or very slow); use bfloat16 or float32 on the CPU, float16 on a GPU"
        )
    if device.type == "cpu" and name == "bfloat16" and not _cpu_has_bf16():
        raise ValueError(
            f"dtype bfloat16 needs a CPU with bfloat16 support (AVX512-BF16 or AMX); this "
            f"one ({torch.backends.cpu.get_cpu_capability()}) has none: use float32"
        )
    if device.type == "cuda" and name == "bfloat16" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"dtype bfloat16 is not supported by {device}; use float16 or float32")
    return DTYPE_CHOICES[name]


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's parameters (the policy's device)."""
    return next(module.parameters()).device


def place(module: torch.nn.Module, device: str | torch.device, dtype: str = "float32"):
    """Move ``module`` to ``device`` (resolved) and set its forward passes' autocast
    dtype (``module.autocast_dtype``, read by the value-head models); return the device.
    Weights stay float32. The CPU at float32 moves nothing and changes nothing."""
    where = resolve_device(device)
    compute = resolve_dtype(dtype, where)
    if module_device(module) != where:
        module.to(where)
    module.autocast_dtype = None if compute == torch.float32 else compute
    return where


def autocast(device: torch.device, dtype: torch.dtype | None):
    """``torch.autocast`` at ``dtype`` on ``device``, or nothing at float32/None."""
    if dtype is None or dtype == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A gradient scaler, on only for float16 (bfloat16 has float32's range). A disabled
    scaler passes the loss and the optimizer step through unchanged."""
    enabled = dtype == torch.float16
    return torch.amp.GradScaler(device.type if enabled else "cpu", enabled=enabled)
