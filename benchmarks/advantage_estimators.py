"""GAE, GRPO and RLOO on tool discovery at an equal wall-clock budget.

One SFT start (calculator demonstrations that call the tool on 30% of the items), then
PPO from that same start with each ``advantage`` setting for the same training minutes.
GRPO and RLOO collect groups of ``--group-size`` episodes per item (so an iteration sees
``batch / group_size`` items); GAE one episode per item. Greedy validation success is
drawn against training minutes, all three in one PNG, and the test split is read once
per estimator at the end.

    .venv/bin/python benchmarks/advantage_estimators.py   # ~10 min on 2 cores

Writes benchmarks/results/advantage_estimators.json, .md and .png.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import gymnasium as gym
import torch
from learning_runs import Curve, machine, new_policy, plot_curves, test_split, timed_ppo, timed_sft

from textgym.agents import PPOConfig, SFTConfig

RESULTS = Path(__file__).resolve().parent / "results"
ENV_ID = "TextEnv-Calculator-v0"
SOURCE = {"oracle_tool_rate": 0.3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.5, help="PPO minutes per estimator")
    parser.add_argument("--sft-steps", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64, help="episodes per iteration")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per item (grpo, rloo)")
    parser.add_argument("--eval-every", type=int, default=5, help="iterations per curve point")
    parser.add_argument("--no-test", action="store_true", help="validation only")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    started = time.perf_counter()
    demo_env = gym.make(ENV_ID, **SOURCE)
    env = gym.make(ENV_ID)
    start = new_policy(env)
    sft_minutes = timed_sft(demo_env, start, SFTConfig(steps=args.sft_steps), None)
    print(f"SFT: {sft_minutes:.2f} min", flush=True)

    curves, finals, runs = [], {}, {}
    for advantage in ("gae", "grpo", "rloo"):
        policy = copy.deepcopy(start)
        config = PPOConfig(
            episodes_per_iteration=args.batch,
            total_iterations=10**6,  # the budget stops it
            checkpoint_every=0,
            advantage=advantage,
            group_size=1 if advantage == "gae" else args.group_size,
        )
        label = "gae" if advantage == "gae" else f"{advantage} (groups of {args.group_size})"
        curve = Curve(label)
        minutes, rows = timed_ppo(
            ENV_ID,
            {},
            policy,
            config,
            curve,
            minutes=args.minutes,
            eval_every=args.eval_every,
            val_episodes=100,
        )
        print(
            f"{advantage}: {len(rows)} iterations in {minutes:.2f} min, validation {curve.success}",
            flush=True,
        )
        curves.append(curve)
        runs[advantage] = {
            "iterations": len(rows),
            "minutes": round(minutes, 2),
            "config": config.to_dict(),
        }
        finals[advantage] = policy

    result = {
        "env": ENV_ID,
        "sft_env_kwargs": SOURCE,
        "sft_steps": args.sft_steps,
        "sft_minutes": round(sft_minutes, 2),
        "ppo_minutes_each": args.minutes,
        "runs": runs,
        "curves": [c.as_dict() for c in curves],
        "wall_minutes": None,
        "machine": machine(),
    }
    if not args.no_test:
        result["test"] = {"sft": test_split(env, start)} | {
            name: test_split(env, policy) for name, policy in finals.items()
        }
    result["wall_minutes"] = round((time.perf_counter() - started) / 60, 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "advantage_estimators.json").write_text(json.dumps(result, indent=2))
    plot_curves(
        curves,
        RESULTS / "advantage_estimators.png",
        f"Tool discovery, {args.minutes} PPO minutes each from one SFT start",
    )
    lines = [
        f"# Advantage estimators on tool discovery ({args.minutes} PPO minutes each)",
        "",
        "| estimator | iterations | final validation | test greedy | test sampled | "
        "greedy tool-call rate |",
        "|---|---|---|---|---|---|",
    ]
    for curve, (name, run) in zip(curves, runs.items()):
        test = result.get("test", {}).get(name)
        cells = (
            ("n/a",) * 3
            if test is None
            else (
                f"{test['greedy']['success']:.1%}",
                f"{test['sampled']['success']:.1%}",
                f"{test['greedy']['tool_call_rate']:.0%}",
            )
        )
        lines.append(
            f"| {curve.label} | {run['iterations']} | {curve.success[-1]:.1%} | "
            + " | ".join(cells)
            + " |"
        )
    (RESULTS / "advantage_estimators.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
