"""The stack-llama pipeline, judged by ground truth: SFT, a reward model on preference
pairs with hard negatives from the SFT policy's own failures, then PPO with LoRA against
the learned reward alone.

Each stage is the library call behind one ``textgym train`` command (README, "RLHF with
a learned reward"), so this measures the documented sequence:

1. ``train_sft``: the warm start (calculator: demonstrations that call the tool on 30%
   of the items; sentiment: mixed-polarity reviews), as in ppo_learning.py;
2. ``train_reward --policy SFT``: pairs from the oracle, the random agent and 4 sampled
   episodes of the SFT policy per item, ranked by the task's score; the policy's failures
   are the hard negatives. Calculator: the model reads the question and the whole episode
   (``with_transcript``: the call, the tool's result, the answer), so it can check the
   answer against the tool instead of doing multiplication; sentiment: the review alone.
   Its train items start at 10,000, away from the validation items;
3. ``train_ppo --reward-model RM --lora-rank 8``: the update never sees the task's reward.

The env's own verdict is measured beside the learned reward, before and after PPO, on
held-out items, and per iteration on the rollouts, so reward hacking would show as the two
diverging: on validation items (train items 0..99; the reward model's pairs start at item
10,000), where settings are chosen, and once on the fixed test split.

    .venv/bin/python benchmarks/rlhf_pipeline.py            # both envs
    .venv/bin/python benchmarks/rlhf_pipeline.py --env sentiment --reuse   # keep SFT, RM
    .venv/bin/python benchmarks/rlhf_pipeline.py --env calculator --quick  # smoke run

Writes benchmarks/results/rlhf_pipeline.json, .md and .png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from learning_runs import KL_IN_LOSS_RLOO, machine

import textgym
from textgym.agents import OracleAgent, PolicyAgent, PPOConfig, SFTConfig
from textgym.agents.lora import LoraSettings
from textgym.agents.reward_model import (
    PreferencePair,
    RewardConfig,
    RewardModel,
    pairwise_accuracy,
    transcript_text,
)
from textgym.agents.train import train_ppo, train_sft
from textgym.agents.train_reward import PAIRS_FILE, pairs_header, train_reward
from textgym.env_spec import env_spec
from textgym.rollout import run_episode

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path("runs/rlhf")
#: Pairs are drawn from train items from here on, away from SFT's and validation's.
FIRST_PAIR_ITEM = 10_000

#: Per-env settings, chosen on validation items (see the results' _validation files).
PRESETS: dict[str, dict[str, Any]] = {
    "calculator": {
        "env_id": "TextEnv-Calculator-v0",
        "arch": "llama",
        "sft": {"steps": 2000, "demonstrations": 2000},
        "sft_env_kwargs": {"oracle_tool_rate": 0.3},
        # reward_model_tuning_calculator.md: 1,500 steps on 1,000 items' pairs, chosen on
        # validation pairs (600 steps on 300 items gave 89.6% on held-out hard pairs).
        "reward": {"with_transcript": True, "steps": 1500, "batch_size": 32},
        "min_margin": 0.0,
        "pairs": {"items": 1000, "held_out": 200, "samples": 4},
        "ppo": {
            "advantage": "grpo",
            "group_size": 4,
            "learning_rate": 1e-3,
            # One optimizer step per epoch: LoRA's small ops made four a slow iteration.
            "mini_batch_size": 64,
        },
        "iterations": 150,  # chosen on validation items: 30 fell short
    },
    "sentiment": {
        "env_id": "TextEnv-Sentiment-v0",
        "arch": "causal",
        "sft": {"steps": 1000, "demonstrations": 2000, "lr_schedule": "linear"},
        "sft_env_kwargs": {"oracle_polarity": "mixed"},
        # reward_model_tuning_sentiment.md: 2,000 steps on 1,500 items' pairs, chosen on
        # validation pairs (600 steps on 150 items gave 89.3% on held-out hard pairs).
        "reward": {"steps": 2000, "batch_size": 32},
        # Classifier scores are continuous: pairs of nearly equal reviews are noise.
        "min_margin": 0.3,
        "pairs": {"items": 1500, "held_out": 150, "samples": 4},
        "ppo": {
            "max_new_tokens": 96,
            "learning_rate": 1e-3,
            "mini_batch_size": 64,
            **KL_IN_LOSS_RLOO,
        },
        "iterations": 100,
    },
}


def measure(env_id: str, policy_dir: Path, rm_dir: Path, split: str, episodes: int) -> dict:
    """Greedy and sampled: the task's success and mean reward (the env's own verdict) and
    the learned reward of the same episodes (what LearnedReward pays: tanh of the model's
    normalized score of the answer or transcript), on ``episodes`` items of ``split``."""
    out = {}
    rm = RewardModel.from_pretrained(rm_dir)
    for mode, temperature in (("greedy", 0.0), ("sampled", 1.0)):
        env = gym.make(env_id)
        agent = PolicyAgent(env, str(policy_dir), temperature=temperature, seed=0)
        result = textgym.evaluate(
            env, agent, split=split, episodes=episodes, seed=0, progress=False
        )
        texts = []
        for episode in result.episodes:
            question = env.unwrapped.task.item(split, episode.index).question
            if rm.config.with_transcript:
                tokenizer = env_spec(env).tokenizer
                answer = transcript_text(tokenizer, episode.tokens, episode.prompt_length)
            else:
                answer = episode.answer or ""
            texts.append(rm.text_of(question, answer))
        learned = np.tanh(rm.normalized(texts))
        out[mode] = {
            "true_success": result.success_rate,
            "true_mean_reward": result.mean_reward,
            "learned_reward": float(np.mean(learned)),
            "tool_call_rate": result.tool_call_rate,
            # One text written for every prompt would score 1/items here: the collapse a
            # learned reward invites.
            "unique_answers": len({e.answer for e in result.episodes}) / len(result.episodes),
        }
        env.close()
    return out


def off_by_one(env_id: str, rm_dir: Path, items: range) -> float | None:
    """Calculator: the oracle's transcript against the same with the final answer + 1."""
    rm = RewardModel.from_pretrained(rm_dir)
    if not rm.config.with_transcript:
        return None
    env = gym.make(env_id)
    oracle = OracleAgent(env)
    pairs = []
    for index in items:
        episode = run_episode(env, oracle, options={"split": "train", "index": index})
        right = transcript_text(env_spec(env).tokenizer, episode.tokens, episode.prompt_length)
        answer = env.get_wrapper_attr("item").answer
        head, sep, _ = right.rpartition(str(answer))
        if not sep:
            continue
        wrong = head + str(int(answer) + 1) + right[len(head) + len(sep) :]
        pairs.append(PreferencePair(env.get_wrapper_attr("item").question, right, wrong, 1.0))
    env.close()
    return pairwise_accuracy(rm, pairs) if pairs else None


def _stage_done(path: Path, reuse: bool) -> bool:
    return reuse and path.exists()


def _kept_rm(
    rm_dir: Path, reuse: bool, config: RewardConfig, pair_settings: dict[str, Any]
) -> str | None:
    """With ``--reuse``: "model" when the earlier reward model was trained with this
    config on pairs made this way, "pairs" when only its pairs can be kept, else None."""
    if not reuse or not (rm_dir / PAIRS_FILE).exists():
        return None
    header = pairs_header(rm_dir / PAIRS_FILE)
    if any(header.get(k) != v for k, v in pair_settings.items()):
        return None
    log_file = rm_dir / "reward_log.json"
    log = json.loads(log_file.read_text()) if log_file.exists() else {}
    return "model" if log.get("config") == asdict(config) else "pairs"


def run(name: str, args: argparse.Namespace) -> dict[str, Any]:
    preset = PRESETS[name]
    env_id = preset["env_id"]
    folder = RUNS / name
    quick = args.quick
    minutes: dict[str, float | None] = {}

    t0 = time.perf_counter()
    sft_config = SFTConfig(**{**preset["sft"], **({"steps": 20} if quick else {})})
    sft_dir = folder / "sft" / "policy"
    if _stage_done(sft_dir, args.reuse):
        minutes["sft"] = None  # reused from an earlier run of this script
    else:
        train_sft(
            env_id,
            folder / "sft",
            sft_config,
            env_kwargs=preset["sft_env_kwargs"],
            arch=preset["arch"],
            overwrite=True,
            progress=False,
        )
        minutes["sft"] = (time.perf_counter() - t0) / 60

    t0 = time.perf_counter()
    reward_config = RewardConfig(**{**preset["reward"], **({"steps": 20} if quick else {})})
    rm_dir = folder / "rm"
    items = 20 if quick else preset["pairs"]["items"]
    held_out = 10 if quick else preset["pairs"]["held_out"]
    pair_settings = {
        "policy": str(sft_dir),
        "samples": preset["pairs"]["samples"],
        "min_margin": preset["min_margin"],
        "train_items": [FIRST_PAIR_ITEM, FIRST_PAIR_ITEM + items],
        "held_out_items": [FIRST_PAIR_ITEM + items, FIRST_PAIR_ITEM + items + held_out],
    }
    kept = _kept_rm(rm_dir, args.reuse, reward_config, pair_settings)
    if kept == "model":
        minutes["reward_model"] = None
    else:
        train_reward(
            env_id,
            rm_dir,
            reward_config,
            items=items,
            held_out=held_out,
            first_item=FIRST_PAIR_ITEM,
            policy=sft_dir,
            samples=preset["pairs"]["samples"],
            min_margin=preset["min_margin"],
            # Playing the items is the slow part: a new model setting trains on the
            # pairs of the earlier run when they were made the same way.
            pairs=rm_dir if kept == "pairs" else None,
            overwrite=True,
            progress=False,
        )
        minutes["reward_model"] = (time.perf_counter() - t0) / 60
    log = json.loads((rm_dir / "reward_log.json").read_text())
    print(f"{name}: reward model, hard negatives {log['held_out_hard_accuracy']}", flush=True)

    t0 = time.perf_counter()
    config = PPOConfig(
        episodes_per_iteration=16 if quick else 64,
        total_iterations=2 if quick else args.iterations or preset["iterations"],
        checkpoint_every=0,
        **preset["ppo"],
    )
    _, rows = train_ppo(
        env_id,
        folder / "ppo",
        config,
        init=sft_dir,
        lora=LoraSettings(rank=8),
        reward_model=rm_dir,
        overwrite=True,
        eval_every=0,
        progress=False,
    )
    minutes["ppo"] = (time.perf_counter() - t0) / 60
    # Validation items choose settings; the test split is read once, at the end.
    splits = {"validation": ("train", 10 if quick else 100)}
    if not args.no_test:
        splits["test"] = ("test", 20 if quick else 200)
    measured = {}
    for label, (split, episodes) in splits.items():
        measured[label] = {
            "items": episodes,
            "before": measure(env_id, sft_dir, rm_dir, split, episodes),
            "after": measure(env_id, folder / "ppo" / "policy", rm_dir, split, episodes),
        }
        print(f"{name} {label}: {measured[label]}", flush=True)
    return {
        "env": env_id,
        "arch": preset["arch"],
        "sft": {"config": sft_config.__dict__, "env_kwargs": preset["sft_env_kwargs"]},
        "reward_model": {
            "config": reward_config.__dict__,
            "min_margin": preset["min_margin"],
            "pairs": preset["pairs"],
            **{k: log[k] for k in log if k.startswith(("train_", "held_out"))},
            "off_by_one_accuracy": None
            if quick
            else off_by_one(env_id, rm_dir, range(11_000, 11_100)),
        },
        "ppo": {"config": config.to_dict(), "lora_rank": 8},
        **measured,
        "curve": [
            {
                "iteration": i + 1,
                "learned_reward": r["env/reward_mean"],
                "true_success": r["env/success_rate"],
                "kl": r["objective/kl"],
            }
            for i, r in enumerate(rows)
        ],
        "minutes": {k: None if v is None else round(v, 2) for k, v in minutes.items()},
    }


def measure_test(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A finished run's SFT and PPO policies on the fixed test split (read once, after
    the settings were chosen on validation items)."""
    folder = RUNS / name
    env_id = PRESETS[name]["env_id"]
    test = {
        "items": 200,
        "before": measure(env_id, folder / "sft" / "policy", folder / "rm", "test", 200),
        "after": measure(env_id, folder / "ppo" / "policy", folder / "rm", "test", 200),
    }
    print(f"{name} test: {test}", flush=True)
    return {**record, "test": test}


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in PRESETS if n in results]
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        curve = results[name]["curve"]
        x = [c["iteration"] for c in curve]
        ax.plot(x, [c["learned_reward"] for c in curve], label="learned reward (trained on)")
        ax.plot(x, [c["true_success"] for c in curve], label="true success (never seen)")
        ax.set_title(f"{name}: PPO + LoRA against the reward model")
        ax.set_xlabel("PPO iteration (sampled rollouts)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def table(results: dict[str, Any]) -> str:
    lines = [
        "| env | mode (items) | true success before → after | true mean reward before → after "
        "| learned reward before → after |",
        "|---|---|---|---|---|",
    ]
    for name in PRESETS:
        if name not in results:
            continue
        r = results[name]
        for mode in ("greedy", "sampled"):
            split = "test" if "test" in r else "validation"
            b, a = r[split]["before"][mode], r[split]["after"][mode]
            lines.append(
                f"| {name} | {mode} ({split}) | {b['true_success']:.1%} → {a['true_success']:.1%} "
                f"| {b['true_mean_reward']:.3f} → {a['true_mean_reward']:.3f} "
                f"| {b['learned_reward']:.3f} → {a['learned_reward']:.3f} |"
            )
    lines += ["", "| env | RM held-out accuracy | on hard negatives (pairs) | off by one |"]
    lines.append("|---|---|---|---|")
    for name in PRESETS:
        if name in results:
            rm = results[name]["reward_model"]
            obo = rm["off_by_one_accuracy"]
            lines.append(
                f"| {name} | {rm['held_out_accuracy']:.1%} | {rm['held_out_hard_accuracy']:.1%} "
                f"({rm['held_out_hard_pairs']}) | {'-' if obo is None else f'{obo:.1%}'} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--env", choices=[*PRESETS, "all"], default="all")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the SFT policy and reward model of an earlier run in runs/rlhf/ENV",
    )
    parser.add_argument("--iterations", type=int, help="PPO iterations (default: preset's)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of tiny sizes")
    parser.add_argument(
        "--no-test", action="store_true", help="validation items only (choosing settings)"
    )
    parser.add_argument(
        "--test-only",
        action="store_true",
        help="measure the run recorded in rlhf_pipeline_validation.json on the test split",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="torch threads; 1 when another process shares the cores (two busy-waiting "
        "thread pools on 2 cores made PPO iterations 15x slower)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    names = list(PRESETS) if args.env == "all" else [args.env]
    stem = "rlhf_pipeline" + ("_validation" if args.no_test else "")
    stem += "_quick" if args.quick else ""
    path = RESULTS / f"{stem}.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    if args.test_only:
        chosen = json.loads((RESULTS / "rlhf_pipeline_validation.json").read_text())
        names = [n for n in names if n in chosen]
    for name in names:
        results[name] = measure_test(name, chosen[name]) if args.test_only else run(name, args)
        results["machine"] = machine()
        path.write_text(json.dumps(results, indent=2))  # each env's result kept as it lands
    results["wall_minutes_last_run"] = round((time.perf_counter() - started) / 60, 2)
    path.write_text(json.dumps(results, indent=2))
    (RESULTS / f"{stem}.md").write_text(table(results))
    plot(results, RESULTS / f"{stem}.png")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
