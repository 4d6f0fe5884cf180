"""How much greedy success can RL find from a warm start? Greedy against pass@k per item.

A reward-driven update can only raise the greedy answer of an item where the policy's
own samples sometimes succeed: the items where greedy fails and at least one of ``k``
samples succeeds are RL's **headroom** at that group size (what a group of ``k`` can
find), and the items where greedy succeeds but most samples fail are **fragile** (an
update that moves probability between sampled answers can lose them). The script
measures both on the validation items (train items ``0..items-1``, see
learning_runs.py), per task family where the env has families:

    .venv/bin/python benchmarks/sample_headroom.py --env python \\
        --policy runs/bench_ppo_python/sft/policy --samples 8     # ~5 min on 2 cores

Writes benchmarks/results/sample_headroom_<env><tag>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from learning_runs import VALIDATION_ITEMS, item_kind, machine
from ppo_fixed_pool import FixedPool
from ppo_learning import PRESETS

import textgym
from textgym.agents import PolicyAgent, ValueHeadLM
from textgym.agents.rollouts import collect_episodes

RESULTS = Path(__file__).resolve().parent / "results"


def greedy_successes(env: gym.Env, policy: ValueHeadLM, items: int) -> list[bool]:
    """Greedy success on validation items ``0..items-1``, in item order."""
    agent = PolicyAgent(env, policy, temperature=0.0)
    result = textgym.evaluate(env, agent, split="train", episodes=items, progress=False)
    return [e.success for e in sorted(result.episodes, key=lambda e: e.index)]


def sampled_successes(
    env_id: str, policy: ValueHeadLM, items: int, k: int, temperature: float, max_new: int
) -> list[list[bool]]:
    """``k`` sampled episodes of each validation item (one group of ``k`` per item, as
    PPO's rollouts collect them); the successes of each item, in item order."""
    slots: dict[int, int] = {}
    envs = gym.vector.SyncVectorEnv(
        [lambda: FixedPool(gym.make(env_id), items, slots) for _ in range(8)]
    )
    try:
        records = collect_episodes(
            envs,
            policy,
            items * k,
            seed=0,
            generator=torch.Generator().manual_seed(0),
            max_new_tokens=max_new,
            temperature=temperature,
            group_size=k,
        )
    finally:
        envs.close()
    per_item: list[list[bool]] = [[] for _ in range(items)]
    for record in records:
        per_item[slots[record.seed]].append(record.success)
    if any(len(s) != k for s in per_item):
        raise RuntimeError("the groups did not cover each item once; report this as a bug")
    return per_item


def summary(greedy: list[bool], sampled: list[list[bool]]) -> dict[str, float]:
    k = len(sampled[0])
    return {
        "items": len(greedy),
        "greedy": float(np.mean(greedy)),
        "sampled": float(np.mean([np.mean(s) for s in sampled])),
        f"pass@{k}": float(np.mean([any(s) for s in sampled])),
        # Greedy fails, a sample succeeds: what a group of k can teach greedy.
        "headroom": float(np.mean([not g and any(s) for g, s in zip(greedy, sampled)])),
        # Greedy succeeds, fewer than half the samples do: what an update can lose.
        "fragile": float(np.mean([g and np.mean(s) < 0.5 for g, s in zip(greedy, sampled)])),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(PRESETS), default="python")
    parser.add_argument("--policy", required=True, help="a saved policy folder (RUN/policy)")
    parser.add_argument("--samples", type=int, default=8, help="k: samples per item")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--items", type=int, default=VALIDATION_ITEMS, help="validation items")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--tag", default="", help="suffix of the result file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    preset = PRESETS[args.env]
    env_id = preset["env_id"]
    max_new = preset["ppo"].get("max_new_tokens", 48)
    started = time.perf_counter()
    env = gym.make(env_id)
    policy = ValueHeadLM.from_pretrained(args.policy)
    greedy = greedy_successes(env, policy, args.items)
    sampled = sampled_successes(
        env_id, policy, args.items, args.samples, args.temperature, max_new
    )
    by_kind: dict[str, list[int]] = defaultdict(list)
    for index in range(args.items):
        kind = item_kind(env, "train", index)
        if kind is not None:
            by_kind[kind].append(index)
    result: dict[str, Any] = {
        "env": env_id,
        "policy": args.policy,
        "measured_on": "validation (train items)",
        "samples": args.samples,
        "temperature": args.temperature,
        **summary(greedy, sampled),
        "by_kind": {
            kind: summary([greedy[i] for i in idx], [sampled[i] for i in idx])
            for kind, idx in sorted(by_kind.items())
        },
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    env.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"sample_headroom_{args.env}{args.tag}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k not in ("by_kind", "machine")}))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
