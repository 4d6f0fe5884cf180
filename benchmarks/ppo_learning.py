"""Does PPO learn? A deliberately partial SFT warm start on TextEnv-Calculator-v0, then PPO,
with test-split success measured before and after (greedy and sampled decoding).

    .venv/bin/python benchmarks/ppo_learning.py [--sft-steps 140] [--iterations 120] [--lr 1e-4]

Writes benchmarks/results/ppo_learning_calculator.json and .png. Fixed seeds: a rerun on the
same machine and versions gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import gymnasium as gym
import torch

import textgym
from textgym.agents import PolicyAgent, PPOConfig, SFTConfig
from textgym.agents.metrics import plot_learning_curve, read_jsonl
from textgym.agents.train import train_ppo, train_sft

RESULTS = Path(__file__).resolve().parent / "results"
ENV_ID = "TextEnv-Calculator-v0"


def success(env: gym.Env, path: Path, temperature: float, episodes: int) -> float:
    agent = PolicyAgent(env, path, temperature=temperature)
    return textgym.evaluate(env, agent, episodes=episodes, progress=False).success_rate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft-steps", type=int, default=140)
    parser.add_argument("--iterations", type=int, default=120)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=200, help="test items per eval")
    parser.add_argument("--out", default="runs/bench_ppo_calculator")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    out = Path(args.out)
    started = time.perf_counter()

    sft_dir = train_sft(ENV_ID, out / "sft", SFTConfig(steps=args.sft_steps), progress=False)
    sft_minutes = (time.perf_counter() - started) / 60
    env = gym.make(ENV_ID)
    before = {t: success(env, sft_dir, t, args.episodes) for t in (0.0, 1.0)}
    print(f"after partial SFT: greedy {before[0.0]:.1%}, sampled {before[1.0]:.1%}", flush=True)

    t0 = time.perf_counter()
    config = PPOConfig(
        episodes_per_iteration=args.batch,
        mini_batch_size=16,
        learning_rate=args.lr,
        total_iterations=args.iterations,
        checkpoint_every=0,
    )
    _, rows = train_ppo(ENV_ID, out / "ppo", config, init=sft_dir, progress=True)
    ppo_minutes = (time.perf_counter() - t0) / 60
    after = {t: success(env, out / "ppo" / "policy", t, args.episodes) for t in (0.0, 1.0)}
    print(f"after PPO: greedy {after[0.0]:.1%}, sampled {after[1.0]:.1%}", flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "env": ENV_ID,
        "test_episodes": args.episodes,
        "sft_steps": args.sft_steps,
        "ppo_iterations": args.iterations,
        "ppo_config": config.to_dict(),
        "success_before": {"greedy": before[0.0], "sampled": before[1.0]},
        "success_after": {"greedy": after[0.0], "sampled": after[1.0]},
        "gain_points": {
            "greedy": 100 * (after[0.0] - before[0.0]),
            "sampled": 100 * (after[1.0] - before[1.0]),
        },
        "minutes": {
            "sft": round(sft_minutes, 2),
            "ppo": round(ppo_minutes, 2),
            "total": round((time.perf_counter() - started) / 60, 2),
        },
        "final_kl": rows[-1]["objective/kl"] if rows else None,
        "machine": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
        },
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    (RESULTS / "ppo_learning_calculator.json").write_text(json.dumps(result, indent=2))
    plot_learning_curve(
        read_jsonl(out / "ppo" / "metrics.jsonl"),
        RESULTS / "ppo_learning_calculator.png",
        keys=("env/reward_mean", "objective/kl", "ppo/policy/clipfrac"),
        title=f"PPO on {ENV_ID} after a partial SFT",
    )
    print(json.dumps(result["gain_points"]), f"{result['minutes']['total']} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
