"""textgym's PPO and TRL's classic loop, side by side on the calculator, in one run.

    make bench-peer      # builds .venv-peer (trl==0.11.4, transformers==4.46.3) and runs this

Both start from the same SFT warm start (a tiny GPT-2 from config, ByT5 tokenizer with the
four markers), use the same PPO settings (episodes per iteration, minibatch, epochs,
learning rate, KL and clipping, max new tokens, temperature 1) and the same level-0
calculator items, and run the same number of iterations on the same CPU threads. Writes
benchmarks/results/peer_trl.json with each side's per-iteration rows and the ratios:

- rollout time per episode (TRL ``TextEnvironment.run`` vs textgym's vector-env rollout);
- update time per iteration (scoring the batch under policy and reference, and the PPO
  epochs: TRL's ``PPOTrainer.step``);
- full PPO iteration time (rollout + update);
- training reward over the last iterations, and at the first;
- time to reward: wall-clock seconds (summed iteration times) until the training reward,
  averaged over ``--window`` iterations, first reaches ``--reward-level``.

Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from perf import machine, warm_start  # noqa: E402

import textgym  # noqa: E402,F401
from textgym.agents import PPO, PPOConfig  # noqa: E402
from textgym.agents.train import make_policy  # noqa: E402
from textgym.fileio import atomic_write_text  # noqa: E402
from textgym.tokenizer import decode  # noqa: E402

ENV_ID = "TextEnv-Calculator-v0"
RESULTS = Path(__file__).resolve().parents[1] / "results" / "peer_trl.json"
HERE = Path(__file__).resolve().parent


def run_textgym(init: Path, config: PPOConfig, iterations: int, num_envs: int) -> list[dict]:
    envs = gym.make_vec(ENV_ID, num_envs=num_envs)
    env = gym.make(ENV_ID)
    policy = make_policy(env, init)
    env.close()
    ppo = PPO(envs, policy, config)
    rows = []
    for _ in range(iterations):
        s = ppo.step()
        rows.append(
            {
                "iteration": s["iteration"],
                "rollout_s": s["time/ppo/rollout"],
                "generate_s": s["time/ppo/generate"],
                "env_s": s["time/ppo/env"],
                "step_s": s["time/ppo/forward"] + s["time/ppo/optimize"],
                "total_s": s["time/ppo/total"],
                "reward_mean": s["env/reward_mean"],
                "response_tokens_mean": s["tokens/agent_tokens_mean"],
                "kl": s["objective/kl"],
            }
        )
        print("textgym", json.dumps(rows[-1]), flush=True)
    envs.close()
    return rows


def tasks(n: int) -> list[dict]:
    """Train items as TRL sees them: the env's opening text, and the answer."""
    env = gym.make(ENV_ID)
    out = []
    for i in range(n):
        obs, _ = env.reset(options={"split": "train", "index": i})
        out.append(
            {"query": decode(env.unwrapped.tokenizer, obs), "answer": env.unwrapped.item.answer}
        )
    env.close()
    return out


def time_to_reward(rows: list[dict], level: float, window: int) -> dict:
    """Seconds of training (iteration times summed) until the mean training reward of the
    last ``window`` iterations first reaches ``level``; None if it never does."""
    elapsed = 0.0
    for i, row in enumerate(rows):
        elapsed += row["total_s"]
        recent = [r["reward_mean"] for r in rows[max(0, i + 1 - window) : i + 1]]
        if i + 1 >= window and statistics.mean(recent) >= level:
            return {"seconds": elapsed, "iterations": i + 1}
    return {"seconds": None, "iterations": None, "seconds_run": elapsed}


def summary(rows: list[dict], episodes: int, last: int, level: float, window: int) -> dict:
    steady = rows[1:] or rows  # the first iteration pays one-off costs
    return {
        "rollout_s_per_episode": statistics.median(r["rollout_s"] for r in steady) / episodes,
        "update_s": statistics.median(r["step_s"] for r in steady),
        "iteration_s": statistics.median(r["total_s"] for r in steady),
        "time_to_reward": time_to_reward(rows, level, window),
        "reward_first": rows[0]["reward_mean"],
        "reward_last": statistics.mean(r["reward_mean"] for r in rows[-last:]),
        "response_tokens_mean": statistics.mean(r["response_tokens_mean"] for r in rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default=".venv-peer/bin/python")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--episodes", type=int, default=32, help="episodes per iteration")
    parser.add_argument("--last", type=int, default=4, help="iterations averaged at the end")
    parser.add_argument(
        "--reward-level",
        type=float,
        default=0.25,
        help="training reward for the time-to-reward figure (the warm start is near 0.13)",
    )
    parser.add_argument(
        "--window", type=int, default=3, help="iterations averaged for the time to reward"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not Path(args.peer_python).is_file():
        sys.exit(f"no peer interpreter at {args.peer_python}; run `make bench-peer`")
    threads = torch.get_num_threads()
    init = warm_start()
    textgym.make_tokenizer().save_pretrained(init)  # TRL loads the same tokenizer from here
    # Early stopping off on both sides: each iteration then does the same fixed work (all
    # epochs), so the timing does not depend on how fast KL grows.
    config = PPOConfig(
        seed=0,
        episodes_per_iteration=args.episodes,
        lr_schedule="constant",
        early_stopping=False,
    )
    env = gym.make(ENV_ID)
    limits = {"max_turns": env.unwrapped.max_turns, "max_context": env.unwrapped.max_context}
    env.close()

    t0 = time.perf_counter()
    ours = run_textgym(init, config, args.iterations, num_envs=min(16, args.episodes))
    ours_wall = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        setup = {
            "model": str(init.resolve()),
            "tasks": tasks(args.iterations * args.episodes),
            "config": config.to_dict(),
            "iterations": args.iterations,
            "seed": 0,
            "threads": threads,
            **limits,
        }
        (Path(tmp) / "setup.json").write_text(json.dumps(setup))
        theirs, trl_wall = {}, {}
        for variant, flags in (("eos_fixed", ["--eos-fix"]), ("as_shipped", [])):
            t0 = time.perf_counter()
            subprocess.run(
                [
                    args.peer_python,
                    str(HERE / "run_trl.py"),
                    "--setup",
                    f"{tmp}/setup.json",
                    "--out",
                    f"{tmp}/trl.json",
                    *flags,
                ],
                check=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            )
            trl_wall[variant] = time.perf_counter() - t0
            theirs[variant] = json.loads((Path(tmp) / "trl.json").read_text())["rows"]
    peer_versions = subprocess.run(
        [
            args.peer_python,
            "-c",
            "import trl, transformers, torch; "
            "print(trl.__version__, transformers.__version__, torch.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    level = (args.reward_level, args.window)
    a = summary(ours, args.episodes, args.last, *level)
    b = summary(theirs["eos_fixed"], args.episodes, args.last, *level)
    c = summary(theirs["as_shipped"], args.episodes, args.last, *level)
    result = {
        "machine": machine(),
        "peer": dict(zip(("trl", "transformers", "torch"), peer_versions)),
        "settings": {
            "iterations": args.iterations,
            "episodes_per_iteration": args.episodes,
            "threads": threads,
            "reward_level": args.reward_level,
            "reward_window": args.window,
            **limits,
            "ppo": config.to_dict(),
        },
        "textgym": {**a, "wall_s": ours_wall},
        # Equal settings: TRL given the same context tokens (no EOS after each segment).
        "trl": {**b, "wall_s": trl_wall["eos_fixed"]},
        # TRL as it ships: ByT5 appends EOS to the query and every tool response.
        "trl_as_shipped": {**c, "wall_s": trl_wall["as_shipped"]},
        "speedup": {
            "rollout_per_episode": b["rollout_s_per_episode"] / a["rollout_s_per_episode"],
            "update": b["update_s"] / a["update_s"],
            "ppo_iteration": b["iteration_s"] / a["iteration_s"],
            "time_to_reward": (
                b["time_to_reward"]["seconds"] / a["time_to_reward"]["seconds"]
                if a["time_to_reward"]["seconds"] and b["time_to_reward"]["seconds"]
                else None
            ),
            "rollout_per_episode_vs_as_shipped": c["rollout_s_per_episode"]
            / a["rollout_s_per_episode"],
            "ppo_iteration_vs_as_shipped": c["iteration_s"] / a["iteration_s"],
        },
        "rows": {"textgym": ours, **{f"trl_{k}": v for k, v in theirs.items()}},
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("textgym", "trl", "trl_as_shipped", "speedup")}, indent=1
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
