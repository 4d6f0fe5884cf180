"""Does the PPO update optimise its own objective? PPO on a fixed pool of items.

Every iteration samples its groups from the same few train items (items ``0..pool-1``,
each group one of them, every item equally often), so the training success rate
measures the update alone: no new items to generalise to, and no drift in which items
an iteration happens to draw. A correct update raises it. The script trains two arms
from one SFT start, with the same seeds:

- ``rloo``: RLOO in groups of 4, KL as a per-token mean in the loss (the free-text and
  Python presets' settings);
- ``rloo, only positive advantages``: the same with ``only_positive_advantages=True``
  (episodes worse than their group's baseline get 0 instead of a negative advantage).

    .venv/bin/python benchmarks/ppo_learning.py --env python --validation --iterations 1
    .venv/bin/python benchmarks/ppo_fixed_pool.py --env python \\
        --policy runs/bench_ppo_python/sft/policy      # ~11 min on 2 cores

Writes benchmarks/results/ppo_fixed_pool_<env>.json and .png: per iteration, each arm's
training success rate, mean KL to the reference and summed entropy per episode.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from statistics import mean
from typing import Any

import gymnasium as gym
import matplotlib
import torch
from learning_runs import KL_IN_LOSS_RLOO, machine
from ppo_learning import PRESETS
from tqdm import tqdm

from textgym.agents import PPO, PPOConfig, ValueHeadLM

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

RESULTS = Path(__file__).resolve().parent / "results"

ARMS: dict[str, dict[str, Any]] = {
    "rloo": {},
    "rloo, only positive advantages": {"only_positive_advantages": True},
}


class FixedPool(gym.Wrapper):
    """Maps every reset seed to one of ``pool`` train items: seeds in order of first
    appearance take items 0, 1, ..., pool - 1, 0, ... A group's episodes share a seed,
    so they share an item; ``slots`` is shared by every env of the vector env."""

    def __init__(self, env: gym.Env, pool: int, slots: dict[int, int]):
        super().__init__(env)
        self.pool, self.slots = pool, slots

    def reset(self, *, seed=None, options=None):
        if seed is None:  # the vector env's autoreset of a finished env: never recorded
            return self.env.reset(options={"split": "train", "index": 0})
        slot = self.slots.setdefault(seed, len(self.slots) % self.pool)
        return self.env.reset(seed=seed, options={"split": "train", "index": slot})


def run_arm(env_id, policy_path, config, pool, iterations, label) -> list[dict]:
    slots: dict[int, int] = {}
    envs = gym.vector.SyncVectorEnv(
        [lambda: FixedPool(gym.make(env_id), pool, slots) for _ in range(8)]
    )
    ppo = PPO(envs, ValueHeadLM.from_pretrained(policy_path), config)
    rows = []
    started = time.perf_counter()
    for _ in tqdm(range(iterations), desc=label):
        stats = ppo.step()
        rows.append(
            {
                "iteration": stats["iteration"],
                "success": stats["env/success_rate"],
                "kl": stats["objective/kl"],
                "entropy": stats["objective/entropy"],
                "minutes": (time.perf_counter() - started) / 60,
            }
        )
    envs.close()
    return rows


def plot(arms: dict[str, list[dict]], path: Path, title: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in arms.items():
        its = [r["iteration"] for r in rows]
        axes[0].plot(its, [r["success"] for r in rows], marker=".", label=label)
        axes[1].plot(its, [r["kl"] for r in rows], marker=".", label=label)
    axes[0].set(xlabel="iteration", ylabel="training success (fixed pool)", ylim=(0, 1))
    axes[1].set(xlabel="iteration", ylabel="KL to the reference (nats / episode)")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(PRESETS), default="python")
    parser.add_argument("--policy", required=True, help="an SFT policy folder (RUN/sft/policy)")
    parser.add_argument("--pool", type=int, default=16, help="train items in the pool")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64, help="episodes per iteration")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--tag", default="", help="suffix of the result files")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    preset = PRESETS[args.env]
    # The preset's turn length; the KL in the loss and RLOO as the free-text presets.
    base = {
        "max_new_tokens": preset["ppo"].get("max_new_tokens", 48),
        **KL_IN_LOSS_RLOO,
        "learning_rate": 3e-5,
        "episodes_per_iteration": args.batch,
        "checkpoint_every": 0,
    }
    arms = {}
    for label, settings in ARMS.items():
        config = PPOConfig(**{**base, **settings})
        arms[label] = run_arm(
            preset["env_id"], args.policy, config, args.pool, args.iterations, label
        )
    name = f"ppo_fixed_pool_{args.env}{args.tag}"
    result = {
        "env": preset["env_id"],
        "policy": args.policy,
        "pool": args.pool,
        "ppo_config": base,
        "arms": arms,
        "first_last_5": {
            label: [mean(r["success"] for r in rows[:5]), mean(r["success"] for r in rows[-5:])]
            for label, rows in arms.items()
        },
        "machine": machine(),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1))
    plot(arms, RESULTS / f"{name}.png", f"PPO on {args.pool} fixed {preset['env_id']} items")
    for label, (first, last) in result["first_last_5"].items():
        print(f"{label}: training success {first:.3f} (first 5) -> {last:.3f} (last 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
