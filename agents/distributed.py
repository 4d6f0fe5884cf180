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

``accelerate`` only sets up the process group here (``PartialState``); the collectives
are plain ``torch.distributed`` calls, so what crosses processes is visible in this file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch

__all__ = ["Collective", "SingleProcess", "DataParallel", "from_environment"]


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
    """The process group ``accelerate launch`` (or ``torchrun``) started, on the CPU with
    gloo. Needs the ``textgym[accelerate]`` extra."""

    def __init__(self):
        try:
            from accelerate import PartialState
        except ImportError as err:  # pragma: no cover - exercised only without the extra
            raise ImportError(
                "multi-process PPO needs accelerate: pip install 'textgym[accelerate]'"
            ) from err
        import torch.distributed as dist

        # cpu=True: the policy and its tensors live on the CPU, so the backend is gloo.
        state = PartialState(cpu=True)
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


def from_environment() -> Collective:
    """:class:`DataParallel` when a launcher started several processes (``WORLD_SIZE`` > 1,
    as ``accelerate launch`` and ``torchrun`` set it), else :class:`SingleProcess`."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return DataParallel()
    return SingleProcess()
