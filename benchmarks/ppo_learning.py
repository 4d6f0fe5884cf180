"""Does PPO learn? An SFT warm start, then PPO, with the test split measured before and
after (greedy and sampled decoding). Two presets:

- ``tool-discovery``: SFT on calculator demonstrations that call the tool on only 30% of
  the items (``oracle_tool_rate=0.3``), then PPO; the figures are test-split success and
  the tool-call rate, before and after.
- ``calculator``: a deliberately partial SFT on TextEnv-Calculator-v0; the figure is
  test-split success.
- ``sentiment``: SFT on *mixed-polarity* oracle reviews (``oracle_polarity="mixed"``), so
  the model writes reviews without preferring a side; PPO then trains toward the positive
  target. The figures are the mean positive score (VADER, in [-1, 1]), the mean KL to the
  reference per iteration, and the degeneration metrics of the continuations, so that
  reward hacking ("great great great") would show.
- ``calculator-t5`` and ``sentiment-t5``: the same with the encoder-decoder policy (a tiny
  T5 from config, ``arch="seq2seq"``). On the calculator the T5 learns to copy the
  question's numbers out of its encoder far more slowly than GPT-2 copies them from its
  context, so its SFT runs longer and stays weak.

    .venv/bin/python benchmarks/ppo_learning.py --env tool-discovery   # ~4 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env calculator   # ~12 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env sentiment    # ~8 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env calculator-t5  # ~25 min on 2 cores
    .venv/bin/python benchmarks/ppo_learning.py --env sentiment-t5

Writes benchmarks/results/ppo_learning_<env>.json and .png. Fixed seeds: a rerun on the
same machine and versions gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import textgym
from textgym.agents import PolicyAgent, PPOConfig, SFTConfig
from textgym.agents.metrics import plot_learning_curve, read_jsonl
from textgym.agents.run_folder import prepare_run_folder
from textgym.agents.train import train_ppo, train_sft
from textgym.envs.sentiment import degeneration_metrics

RESULTS = Path(__file__).resolve().parent / "results"

#: Per-env settings. ``sft_env_kwargs`` configure the env the demonstrations come from.
PRESETS: dict[str, dict[str, Any]] = {
    # Tool discovery: the demonstrations call the calculator on only 30% of the items and
    # answer directly on the rest, so the SFT start rarely uses the tool and gets most
    # products wrong; PPO has to find from reward that calling it pays.
    "tool-discovery": {
        "env_id": "TextEnv-Calculator-v0",
        "sft_steps": 600,
        "demonstrations": 2000,
        "sft_env_kwargs": {"oracle_tool_rate": 0.3},
        "iterations": 40,
        "ppo": {},
    },
    "calculator": {
        "env_id": "TextEnv-Calculator-v0",
        "sft_steps": 140,
        "demonstrations": 2000,
        "sft_env_kwargs": {},
        "iterations": 120,
        "ppo": {},
    },
    "calculator-t5": {
        "env_id": "TextEnv-Calculator-v0",
        "arch": "seq2seq",
        "sft_steps": 1000,
        "demonstrations": 2000,
        "sft_env_kwargs": {},
        "iterations": 120,
        "ppo": {},
    },
    "sentiment": {
        "env_id": "TextEnv-Sentiment-v0",
        "sft_steps": 300,
        "demonstrations": 1000,
        "sft_env_kwargs": {"oracle_polarity": "mixed"},
        "iterations": 100,
        "ppo": {},
    },
    "sentiment-t5": {
        "env_id": "TextEnv-Sentiment-v0",
        "arch": "seq2seq",
        "sft_steps": 300,
        "demonstrations": 1000,
        "sft_env_kwargs": {"oracle_polarity": "mixed"},
        "iterations": 100,
        "ppo": {},
    },
}


def measure(env: gym.Env, path: Path, temperature: float, episodes: int) -> dict[str, float]:
    """Test-split scores of the model at ``path``, plus degeneration of its final turns."""
    agent = PolicyAgent(env, path, temperature=temperature)
    result = textgym.evaluate(env, agent, episodes=episodes, progress=False)
    degeneration = [degeneration_metrics(e.answer or "") for e in result.episodes]
    scores = {
        "success": result.success_rate,
        "mean_reward": result.mean_reward,
        # Episodes with at least one tool call, and calls the tool could not parse.
        "tool_call_rate": float(np.mean([bool(e.tool_calls) for e in result.episodes])),
        "invalid_call_rate": result.invalid_call_rate,
    }
    # Across episodes: a policy that writes one review for every prompt scores well on the
    # per-answer metrics below and 1/episodes here.
    answers = [e.answer or "" for e in result.episodes]
    scores["unique_answers"] = len(set(answers)) / max(len(answers), 1)
    for key in ("distinct_1", "distinct_2", "repetition_rate", "length"):
        scores[key] = float(np.mean([d[key] for d in degeneration]))
    return scores


def overrides(pairs: list[list[str]]) -> dict[str, Any]:
    """``--set FIELD VALUE`` pairs, each value converted to the type of the field's default."""
    defaults = PPOConfig()
    converted = {}
    for name, value in pairs:
        if not hasattr(defaults, name):
            raise SystemExit(f"--set: PPOConfig has no field {name!r}")
        kind = type(getattr(defaults, name))
        converted[name] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return converted


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(PRESETS), default="calculator")
    parser.add_argument("--sft-steps", type=int, help="default: the preset's")
    parser.add_argument("--iterations", type=int, help="default: the preset's")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=200, help="test items per eval")
    parser.add_argument(
        "--set",
        nargs=2,
        action="append",
        metavar=("FIELD", "VALUE"),
        type=str,
        help="override a PPOConfig field, e.g. --set init_kl_coef 0.2 (repeatable)",
    )
    parser.add_argument("--out", help="run folder (default runs/bench_ppo_<env>)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.env]
    env_id = preset["env_id"]
    sft_steps = args.sft_steps or preset["sft_steps"]
    iterations = args.iterations or preset["iterations"]
    torch.set_num_threads(2)
    out = Path(args.out or f"runs/bench_ppo_{args.env}")
    started = time.perf_counter()
    # A rerun starts anew; the previous run folder is moved aside (results live in
    # benchmarks/results/), never deleted.
    moved = prepare_run_folder(out, overwrite=True)
    if moved is not None:
        print(f"moved the previous run in {out} to {moved}", flush=True)

    sft_config = SFTConfig(steps=sft_steps, demonstrations=preset["demonstrations"])
    arch = preset.get("arch", "causal")
    sft_dir = train_sft(
        env_id,
        out / "sft",
        sft_config,
        env_kwargs=preset["sft_env_kwargs"],
        arch=arch,
        progress=False,
    )
    sft_minutes = (time.perf_counter() - started) / 60
    env = gym.make(env_id)
    before = {t: measure(env, sft_dir, t, args.episodes) for t in (0.0, 1.0)}
    print(f"after SFT: greedy {before[0.0]}, sampled {before[1.0]}", flush=True)

    t0 = time.perf_counter()
    config = PPOConfig(
        episodes_per_iteration=args.batch,
        mini_batch_size=16,
        learning_rate=args.lr,
        total_iterations=iterations,
        checkpoint_every=0,
        **{**preset["ppo"], **overrides(args.set or [])},
    )
    _, rows = train_ppo(env_id, out / "ppo", config, init=sft_dir, progress=True)
    ppo_minutes = (time.perf_counter() - t0) / 60
    after = {t: measure(env, out / "ppo" / "policy", t, args.episodes) for t in (0.0, 1.0)}
    print(f"after PPO: greedy {after[0.0]}, sampled {after[1.0]}", flush=True)

    kl = [row["objective/kl"] for row in rows]
    result = {
        "env": env_id,
        "arch": arch,
        "test_episodes": args.episodes,
        "sft_steps": sft_steps,
        "sft_env_kwargs": preset["sft_env_kwargs"],
        "ppo_iterations": iterations,
        "ppo_config": config.to_dict(),
        "before": {"greedy": before[0.0], "sampled": before[1.0]},
        "after": {"greedy": after[0.0], "sampled": after[1.0]},
        "gain_points": {
            "greedy": 100 * (after[0.0]["success"] - before[0.0]["success"]),
            "sampled": 100 * (after[1.0]["success"] - before[1.0]["success"]),
        },
        "reward_gain": {
            "greedy": after[0.0]["mean_reward"] - before[0.0]["mean_reward"],
            "sampled": after[1.0]["mean_reward"] - before[1.0]["mean_reward"],
        },
        "kl": {
            "final": kl[-1] if kl else None,
            "mean": float(np.mean(kl)) if kl else None,
            "max": float(np.max(kl)) if kl else None,
            "kl_target": config.kl_target,
        },
        "minutes": {
            "sft": round(sft_minutes, 2),
            "ppo": round(ppo_minutes, 2),
            "total": round((time.perf_counter() - started) / 60, 2),
        },
        "machine": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
        },
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ppo_learning_{args.env}.json").write_text(json.dumps(result, indent=2))
    plot_learning_curve(
        read_jsonl(out / "ppo" / "metrics.jsonl"),
        RESULTS / f"ppo_learning_{args.env}.png",
        keys=("env/reward_mean", "objective/kl", "ppo/policy/clipfrac"),
        title=f"PPO on {env_id} after SFT",
    )
    print(json.dumps({k: result[k] for k in ("gain_points", "reward_gain", "kl")}))
    print(f"{result['minutes']['total']} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
