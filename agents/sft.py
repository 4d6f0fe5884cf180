"""Supervised warm start: behaviour cloning on oracle demonstrations.

The loss is the negative log-likelihood of the agent's tokens only; prompt and tool
tokens are context, never targets (a model must not learn to hallucinate tool output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import torch
from tqdm.auto import tqdm

from textgym.agents.config_checks import require_positive_ints
from textgym.agents.devices import check_device_name, check_dtype_name, grad_scaler, place
from textgym.agents.model_sizes import MODEL_SIZES
from textgym.agents.oracle import OracleAgent
from textgym.agents.ppo_math import masked_mean
from textgym.agents.rollouts import Batch
from textgym.agents.value_head import ValueHeadLM
from textgym.rollout import Episode, run_episode

__all__ = ["SFTConfig", "demonstration_loss", "oracle_demonstrations", "sft"]


@dataclass
class SFTConfig:
    """Settings of :func:`sft`.

    steps (300): gradient steps.
    batch_size (32): episodes per step.
    learning_rate (1e-3): Adam step size.
    seed (0): the initial weights (for a new model) and the minibatch order.
    demonstrations (2000): oracle episodes drawn from the train split.
    model_size ("tiny"): the model built from a config when there is no init model:
        "tiny" (2 layers, 128 wide) or "small" (4 layers, 256 wide).
    lr_schedule ("constant"): "constant", or "linear" decay to 0 over ``steps``. At a
        constant 1e-3 a long run ends wherever the last noisy steps left it (calculator
        level 1, validation at steps 1333 / 2666 / 4000: 96%, 92%, 91%); decay settles it.
    device ("cpu"): "auto", "cpu", "cuda", "cuda:N" or "mps" (as PPOConfig.device).
    dtype ("float32"): "float32", "bfloat16" or "float16" (autocast; GPUs only for float16).
    """

    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 1e-3
    seed: int = 0
    demonstrations: int = 2000
    model_size: str = "tiny"
    lr_schedule: str = "constant"
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        require_positive_ints(self, ("steps", "batch_size", "demonstrations"))
        if self.model_size not in MODEL_SIZES:
            raise ValueError(
                f"SFTConfig.model_size must be one of {sorted(MODEL_SIZES)}, "
                f"got {self.model_size!r}"
            )
        if not self.learning_rate > 0:
            raise ValueError("SFTConfig.learning_rate must be > 0")
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError(
                f"SFTConfig.lr_schedule must be 'constant' or 'linear', got {self.lr_schedule!r}"
            )
        check_device_name(self.device, "SFTConfig.device")
        check_dtype_name(self.dtype, "SFTConfig.dtype")


def oracle_demonstrations(
    env: gym.Env, n: int, *, seed: int = 0, progress: bool = True
) -> list[Episode]:
    """``n`` oracle episodes on train items (episode ``i`` seeded ``seed + i``)."""
    agent = OracleAgent(env)
    return [
        run_episode(env, agent, seed=seed + i, options={"split": "train"})
        for i in tqdm(range(n), desc="oracle demos", disable=not progress, unit="ep")
    ]


def demonstration_loss(policy: ValueHeadLM, batch: Batch, **score_options) -> torch.Tensor:
    """Behaviour cloning's loss: the mean negative log-likelihood of the agent's tokens of
    a batch of demonstrations (prompt and tool tokens are context, never targets).
    ``score_options`` go to ``policy.score_tokens`` (the exact speed-ups)."""
    logp, _, _ = policy.score_tokens(
        batch.ids, batch.attention, batch.prompt_lengths, **score_options
    )
    return -masked_mean(logp, batch.mask)


def sft(
    policy: ValueHeadLM,
    demos: list[Episode],
    config: SFTConfig | None = None,
    *,
    pad_id: int = 0,
    progress: bool = True,
    callback: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Behaviour cloning; returns the loss of each step. ``callback(step, loss)`` runs
    after every step (for evaluation during training). The policy is moved to
    ``config.device`` first and stays there."""
    cfg = config or SFTConfig()
    if not demos:
        raise ValueError("sft needs at least one demonstration")
    device = place(policy, cfg.device, cfg.dtype)
    scaler = grad_scaler(device, policy.autocast_dtype)
    # Which demonstrations make a batch is drawn on the host (it picks list items).
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    decay = cfg.lr_schedule == "linear"
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: max(0.0, 1.0 - step / cfg.steps) if decay else 1.0
    )
    policy.eval()  # no dropout anywhere; see tiny_gpt2_config
    losses = []
    bar = tqdm(range(cfg.steps), desc="sft", disable=not progress)
    for _ in bar:
        size = (min(cfg.batch_size, len(demos)),)
        idx = torch.randint(len(demos), size, generator=gen, device="cpu")
        chosen = [demos[i] for i in idx.tolist()]
        batch = Batch.from_episodes(chosen, pad_id, device=device)
        loss = demonstration_loss(policy, batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if callback is not None:
            callback(len(losses), losses[-1])
    return losses
