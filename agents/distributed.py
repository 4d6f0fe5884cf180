"""Data-parallel PPO across processes, launched with ``accelerate launch``.

Every process holds a full copy of the policy, runs its own vector env and collects its
share of each iteration's episodes. The processes then act as one PPO learner on the union
of their episodes:

- statistics that normalise or steer (advantage whitening, the KL controller's mean KL,
  the early-stopping KL, the ratio safeguard) are computed over *all* processes' tokens;
- each minibatch's loss is the global token mean: every process scales its local mean by
  its share of the minibatch's agent tokens, and gradients are averaged with one
  all-reduce before clipping and the optimizer step.

So the weights stay identical on every process, and an iteration equals a single-process
iteration on the same global batch (tests/test_distributed.py checks both with 2 CPU
processes over gloo). Logs and checkpoints are written by the main process only.

Backend: on GPUs (``device`` "cuda"/"auto" with CUDA present) each process drives one GPU,
``cuda:LOCAL_RANK``, and the collectives run over NCCL on the tensors where they are; on
the CPU they run over gloo.

``accelerate`` only sets up the process group here (``PartialState``); the collectives
are plain ``torch.distributed`` calls, so what crosses processes is visible in this file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch

__all__ = ["Collective", "SingleProcess", "DataParallel", "from_environment", "uses_gpu"]


class Collective:
    """What PPO needs from its process group. Every call is collective: all processes make
    the same calls in the same order."""

    rank = 0
    world_size = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """Concatenate every process's tensor (same shape on each) along dim 0."""
        return tensor

    def all_gather_object(self, obj) -> list:
        return [obj]

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        pass

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        pass

    def close(self) -> None:
        """Leave the process group (at the end of a run, on every process)."""


class SingleProcess(Collective):
    """One process: every collective is the identity."""


class DataParallel(Collective):
    """The process group ``accelerate launch`` (or ``torchrun``) started: NCCL with one GPU
    per process when ``device`` names a GPU (or is "auto") and CUDA is present, else gloo
    on the CPU. Needs the ``textgym[accelerate]`` extra."""

    def __init__(self, device: str = "cpu"):
        try:
            from accelerate import PartialState
        except ImportError as err:  # pragma: no cover - exercised only without the extra
            raise ImportError(
                "multi-process PPO needs accelerate: pip install 'textgym[accelerate]'"
            ) from err
        import torch.distributed as dist

        # cpu=False on GPUs: accelerate picks NCCL and binds this process to
        # cuda:LOCAL_RANK; cpu=True: the tensors live on the CPU, so the backend is gloo.
        self.on_gpu = uses_gpu(device)
        state = PartialState(cpu=not self.on_gpu)
        if not dist.is_initialized():
            raise RuntimeError(
                "no process group: start with `accelerate launch --multi_gpu --num_processes N ...`"
            )
        self._dist = dist
        self.rank = state.process_index
        self.world_size = state.num_processes

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.detach().clone()
        self._dist.all_reduce(out, op=self._dist.ReduceOp.SUM)
        return out

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        self._dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts, dim=0)

    def all_gather_object(self, obj) -> list:
        out = [None] * self.world_size
        self._dist.all_gather_object(out, obj)
        return out

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        # One flat buffer, one all-reduce; parameters without a gradient contribute zeros
        # so every process sends the same layout.
        params = list(params)
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        self._dist.all_reduce(flat, op=self._dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        with torch.no_grad():
            for tensor in module.state_dict().values():
                self._dist.broadcast(tensor, src=0)

    def close(self) -> None:
        if self._dist.is_initialized():
            # Wait for every process first: tearing gloo down under a peer still sending
            # aborts that peer.
            self._dist.barrier()
            self._dist.destroy_process_group()


def uses_gpu(device: str) -> bool:
    """Whether a ``device`` setting puts a data-parallel run on GPUs (one per process)."""
    return str(device).startswith(("cuda", "auto")) and torch.cuda.is_available()


def from_environment(device: str = "cpu") -> Collective:
    """:class:`DataParallel` when a launcher started several processes (``WORLD_SIZE`` > 1,
    as ``accelerate launch`` and ``torchrun`` set it), else :class:`SingleProcess`.
    ``device`` is the run's device setting; it picks the backend (NCCL or gloo)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return DataParallel(device)
    return SingleProcess()
