"""``textgym train reward``: a reward model on preference pairs played out in an env.

The pairs come from agents playing the same train items, ranked by the task's own score:
the oracle and the random agent by default, and, given a trained ``policy``, ``samples``
sampled episodes of it per item. The policy's failures are the *hard* negatives (near
misses: a wrong copy of the tool's result, an answer guessed without the tool), the
texts a policy trained against the model will produce. Random text alone teaches only
"looks like an answer" (58% on right vs right + 1 on the calculator).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym

from textgym.agents.oracle import OracleAgent
from textgym.agents.policy_agent import PolicyAgent
from textgym.agents.random_agent import RandomAgent
from textgym.agents.reward_model import (
    RewardConfig,
    RewardModel,
    hard_negative_accuracy,
    pairwise_accuracy,
    preference_pairs,
    train_reward_model,
)
from textgym.agents.run_folder import prepare_run_folder
from textgym.agents.train import announce_moved, check_hardware
from textgym.checks import positive_int
from textgym.fileio import atomic_write_text
from textgym.rollout import Agent

__all__ = ["train_reward", "pair_agents"]


def pair_agents(
    env: gym.Env, policy: str | os.PathLike | None, samples: int, seed: int
) -> tuple[list[Agent], list[int]]:
    """The agents whose episodes are ranked into pairs, and the indices of those whose
    failures are hard negatives (the policy's samples; without a policy, the random
    agent's, though those are easy)."""
    agents: list[Agent] = [OracleAgent(env), RandomAgent(env, seed=seed)]
    if policy is None:
        return agents, [1]
    # Temperature 1: the policy's own distribution, the texts PPO will sample from it.
    agents += [
        PolicyAgent(env, policy, temperature=1.0, seed=seed * 1_000 + k) for k in range(samples)
    ]
    return agents, list(range(2, 2 + samples))


def train_reward(
    env_id: str,
    out_dir: str | os.PathLike,
    config: RewardConfig | None = None,
    *,
    items: int = 300,
    held_out: int = 100,
    first_item: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    policy: str | os.PathLike | None = None,
    samples: int = 4,
    min_margin: float = 0.0,
    overwrite: bool = False,
    progress: bool = True,
) -> tuple[Path, float]:
    """Train a reward model on preference pairs from ``env_id``.

    The oracle, the random agent and (with ``policy``) ``samples`` sampled episodes of
    that policy play ``items`` train items from ``first_item`` on; every two texts whose
    task scores differ by more than ``min_margin`` make a pair. The ``held_out`` items
    after those give the held-out pairs. Saves the model to ``out_dir`` with
    ``reward_log.json`` (losses, pair counts, held-out accuracy on all pairs and on the
    hard ones); returns the folder and the held-out pairwise accuracy."""
    for name, value in (("items", items), ("held_out", held_out), ("samples", samples)):
        positive_int(name, value)
    if first_item < 0:
        raise ValueError(f"first_item must be >= 0, got {first_item}")
    cfg = config or RewardConfig()
    check_hardware(cfg)
    out = Path(out_dir)
    if policy is not None and not Path(policy).is_dir():
        raise FileNotFoundError(f"--policy {str(policy)!r} is not a model folder")
    announce_moved(prepare_run_folder(out, overwrite=overwrite), out)
    env = gym.make(env_id, **(env_kwargs or {}))
    agents, hard_from = pair_agents(env, policy, samples, cfg.seed)
    pair_args = dict(
        seed=cfg.seed, transcript=cfg.with_transcript, min_margin=min_margin, hard_from=hard_from
    )
    train_items = range(first_item, first_item + items)
    held_out_items = range(train_items.stop, train_items.stop + held_out)
    train_pairs = preference_pairs(env, agents, train_items, progress=progress, **pair_args)
    test_pairs = preference_pairs(env, agents, held_out_items, **pair_args)
    env.close()
    if not train_pairs or not test_pairs:
        raise ValueError(
            f"{env_id}: every agent scored the same on every item, so there are no "
            "preference pairs; try more items, other env_kwargs or a lower --min-margin"
        )
    rm = RewardModel.from_config(cfg)
    losses = train_reward_model(rm, train_pairs, progress=progress)
    accuracy = pairwise_accuracy(rm, test_pairs)
    rm.save_pretrained(out)
    atomic_write_text(
        out / "reward_log.json",
        json.dumps(
            {
                "env": env_id,
                "env_kwargs": env_kwargs or {},
                "config": asdict(cfg),
                "policy": str(policy) if policy is not None else None,
                "samples": samples if policy is not None else 0,
                "min_margin": min_margin,
                "train_items": [train_items.start, train_items.stop],
                "held_out_items": [held_out_items.start, held_out_items.stop],
                "train_pairs": len(train_pairs),
                "train_hard_pairs": sum(p.hard for p in train_pairs),
                "held_out_pairs": len(test_pairs),
                "held_out_hard_pairs": sum(p.hard for p in test_pairs),
                "held_out_accuracy": accuracy,
                "held_out_hard_accuracy": hard_negative_accuracy(rm, test_pairs),
                "losses": losses,
            }
        ),
    )
    return out, accuracy
