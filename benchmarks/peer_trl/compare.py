"""textgym's PPO and TRL's classic loop, side by side on the calculator, in one run.

    make bench-peer      # builds .venv-peer (trl==0.11.4, transformers==4.46.3) and runs this

Both start from the same SFT warm start (a tiny GPT-2 from config, ByT5 tokenizer with the
four markers), use the same PPO settings (episodes per iteration, minibatch, epochs,
learning rate, KL and clipping, max new tokens, temperature 1) and the same level-0
calculator items, and run the same number of iterations on the same CPU threads. Writes
benchmarks/results/peer_trl.json with each side's per-iteration rows and the ratios:

- rollout time per episode (TRL ``TextEnvironment.run`` vs textgym's vector-env rollout);
- full PPO iteration time (rollout + scoring + optimisation);
- training reward over the last iterations, and at the first.

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


def summary(rows: list[dict], episodes: int, last: int) -> dict:
    steady = rows[1:] or rows  # the first iteration pays one-off costs
    return {
        "rollout_s_per_episode": statistics.median(r["rollout_s"] for r in steady) / episodes,
        "iteration_s": statistics.median(r["total_s"] for r in steady),
        "reward_first": rows[0]["reward_mean"],
        "reward_last": statistics.mean(r["reward_mean"] for r in rows[-last:]),
        "response_tokens_mean": statistics.mean(r["response_tokens_mean"] for r in rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default=".venv-peer/bin/python")
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--episodes", type=int, default=32, help="episodes per iteration")
    parser.add_argument("--last", type=int, default=4, help="iterations averaged at the end")
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
    a = summary(ours, args.episodes, args.last)
    b = summary(theirs["eos_fixed"], args.episodes, args.last)
    c = summary(theirs["as_shipped"], args.episodes, args.last)
    result = {
        "machine": machine(),
        "peer": dict(zip(("trl", "transformers", "torch"), peer_versions)),
        "settings": {
            "iterations": args.iterations,
            "episodes_per_iteration": args.episodes,
            "threads": threads,
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
            "ppo_iteration": b["iteration_s"] / a["iteration_s"],
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
