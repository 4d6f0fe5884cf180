"""The whole training path on a GPU: SFT, a few PPO iterations and greedy evaluation,
each timed (tokens per second) with its peak GPU memory.

    .venv/bin/python benchmarks/gpu_check.py                  # cuda, float32 and bfloat16
    .venv/bin/python benchmarks/gpu_check.py --dtype bfloat16 --arch llama --size small
    .venv/bin/python benchmarks/gpu_check.py --device cpu --out /tmp/gpu_check.json

Writes benchmarks/results/gpu_check.json (every figure, with the GPU, versions and date).
Without CUDA it exits with a message (status 2). ``--device cpu`` is a dry run of the same
code on the CPU, to check the script itself; it refuses to write into
benchmarks/results (a CPU figure there would read as a GPU result).

What each figure counts:
- sft tokens/s: real (unpadded) tokens of the demonstrations in each step's batch,
  forward and backward, over the SFT wall time.
- ppo generate tokens/s: tokens the policy sampled during rollouts over generation time;
  ppo update tokens/s: tokens of the iteration's episodes times ``ppo_epochs`` (plus the
  two scoring passes) over the forward and optimisation time.
- eval tokens/s: tokens the greedy agent wrote over the evaluation wall time.
- peak memory: ``torch.cuda.max_memory_allocated`` of each phase (reset before it).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import textgym
from textgym.agents import PPO, PolicyAgent, PPOConfig
from textgym.agents.devices import DEVICE_CHOICES, DTYPE_CHOICES, resolve_device, resolve_dtype
from textgym.agents.model_sizes import MODEL_SIZES
from textgym.agents.sft import SFTConfig, oracle_demonstrations, sft
from textgym.agents.train import ARCHITECTURES, make_policy
from textgym.fileio import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
RESULTS = RESULTS_DIR / "gpu_check.json"
ENV = "TextEnv-Calculator-v0"


class _CountingAgent:
    """A :class:`PolicyAgent` that counts the tokens it writes."""

    def __init__(self, agent: PolicyAgent):
        self.agent, self.tokens = agent, 0

    def reset(self, seed=None):
        self.agent.reset(seed)

    def act(self, obs, info):
        action = self.agent.act(obs, info)
        self.tokens += len(action)
        return action


def _peak_reset(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def run_sft(env, args, device) -> tuple[object, dict]:
    policy = make_policy(env, seed=0, arch=args.arch, size=args.size)
    demos = oracle_demonstrations(env, args.demonstrations, progress=False)
    mean_len = float(np.mean([len(d.tokens) for d in demos]))
    cfg = SFTConfig(
        steps=args.sft_steps,
        batch_size=args.batch_size,
        demonstrations=args.demonstrations,
        device=args.device,
        dtype=args.dtype,
    )
    _peak_reset(device)
    t0 = time.perf_counter()
    losses = sft(policy, demos, cfg, pad_id=env.unwrapped.tokenizer.pad_token_id, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - t0
    # Each step draws batch_size demonstrations at random: their expected real tokens.
    tokens = args.sft_steps * min(args.batch_size, len(demos)) * mean_len
    return policy, {
        "steps": args.sft_steps,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "peak_mib": _peak_mib(device),
    }


def run_ppo(policy, args, device) -> dict:
    envs = gym.make_vec(ENV, args.num_envs)
    cfg = PPOConfig(
        episodes_per_iteration=args.episodes,
        mini_batch_size=max(1, args.episodes // 4),
        device=args.device,
        dtype=args.dtype,
    )
    ppo = PPO(envs, policy, cfg)
    rows = []
    _peak_reset(device)
    for _ in range(args.ppo_iterations):
        stats = ppo.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rows.append(stats)
    envs.close()
    generated = sum(r["tokens/generated"] for r in rows)
    generate_s = sum(r["time/ppo/generate"] for r in rows)
    # Episode tokens go through two scoring passes (policy, reference) and up to
    # ppo_epochs update passes.
    passes = [2 + r["ppo/epochs_done"] for r in rows]
    update_tokens = sum(
        r["tokens/episode_len_mean"] * cfg.episodes_per_iteration * p for r, p in zip(rows, passes)
    )
    update_s = sum(r["time/ppo/forward"] + r["time/ppo/optimize"] for r in rows)
    return {
        "iterations": len(rows),
        "seconds_per_iteration": float(np.mean([r["time/ppo/total"] for r in rows])),
        "generate_tokens_per_s": generated / max(generate_s, 1e-9),
        "update_tokens_per_s": update_tokens / max(update_s, 1e-9),
        "env_share": sum(r["time/ppo/env"] for r in rows) / sum(r["time/ppo/total"] for r in rows),
        "reward_mean_last": rows[-1]["env/reward_mean"],
        "kl_last": rows[-1]["objective/kl"],
        "loss_finite": bool(all(np.isfinite(r["ppo/loss/total"]) for r in rows)),
        "peak_mib": _peak_mib(device),
    }


def run_eval(env, policy, args, device) -> dict:
    agent = _CountingAgent(PolicyAgent(env, policy, temperature=0.0))
    _peak_reset(device)
    t0 = time.perf_counter()
    result = textgym.evaluate(env, agent, episodes=args.eval_episodes, progress=False)
    seconds = time.perf_counter() - t0
    return {
        "episodes": result.n,
        "success_rate": result.success_rate,
        "seconds": seconds,
        "tokens_per_s": agent.tokens / seconds,
        "peak_mib": _peak_mib(device),
    }


def check_one(args, dtype: str) -> dict:
    args = argparse.Namespace(**{**vars(args), "dtype": dtype})
    device = resolve_device(args.device)
    env = gym.make(ENV)
    policy, sft_stats = run_sft(env, args, device)
    eval_stats = run_eval(env, policy, args, device)  # the SFT model, before PPO moves it
    ppo_stats = run_ppo(policy, args, device)
    env.close()
    return {"dtype": dtype, "sft": sft_stats, "ppo": ppo_stats, "eval": eval_stats}


def _machine(device: torch.device) -> dict:
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "textgym": getattr(textgym, "__version__", "?"),
        "device": str(device),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def _refusal(args) -> str | None:
    """Why this run must not go ahead, or None."""
    try:
        device = resolve_device(args.device)
        for dtype in args.dtypes:
            resolve_dtype(dtype, device)
    except ValueError as exc:
        return str(exc)
    if device.type != "cuda" and args.device != "cpu":
        return f"no CUDA GPU here ({device}); this check is for GPUs (--device cpu: dry run)"
    out = Path(args.out).resolve()
    if device.type != "cuda" and out.is_relative_to(RESULTS_DIR):
        return "a --device cpu dry run does not write into benchmarks/results: pass --out /tmp/..."
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help=f"one of {', '.join(DEVICE_CHOICES)}")
    p.add_argument(
        "--dtype",
        dest="dtypes",
        action="append",
        choices=list(DTYPE_CHOICES),
        help="repeatable (default: float32 and bfloat16 on a GPU, float32 on the CPU)",
    )
    p.add_argument("--arch", choices=[a for a in ARCHITECTURES if a != "seq2seq"], default="llama")
    p.add_argument("--size", choices=sorted(MODEL_SIZES), default="small")
    p.add_argument("--sft-steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--demonstrations", type=int, default=128)
    p.add_argument("--ppo-iterations", type=int, default=3)
    p.add_argument("--episodes", type=int, default=32, help="episodes per PPO iteration")
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    if args.dtypes is None:
        args.dtypes = ["float32"] + (["bfloat16"] if args.device != "cpu" else [])
    why = _refusal(args)
    if why is not None:
        print(f"gpu_check: {why}", file=sys.stderr)
        return 2
    device = resolve_device(args.device)
    runs = [check_one(args, dtype) for dtype in args.dtypes]
    record = {
        "machine": _machine(device),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "runs": runs,
    }
    for run in runs:
        peak = {k: run[k]["peak_mib"] for k in ("sft", "ppo", "eval")}
        print(
            f"{args.arch}/{args.size} {run['dtype']} on {device}: "
            f"sft {run['sft']['tokens_per_s']:,.0f} tok/s, "
            f"ppo generate {run['ppo']['generate_tokens_per_s']:,.0f} tok/s, "
            f"update {run['ppo']['update_tokens_per_s']:,.0f} tok/s, "
            f"eval {run['eval']['tokens_per_s']:,.0f} tok/s; peak MiB {peak}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
