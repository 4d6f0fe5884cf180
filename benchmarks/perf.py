"""Where the time goes: env overhead, vector scaling, tool latency, the PPO iteration.

    .venv/bin/python benchmarks/perf.py            # all sections, about 3 minutes on 2 cores
    .venv/bin/python benchmarks/perf.py --only tools vector

Writes benchmarks/results/perf.json (every figure, with machine, versions and date) and
prints a summary. Figures are medians over repeats. The PPO section runs the default
PPOConfig and tiny model on TextEnv-Calculator-v0 (what `make demo` trains).

Sections:
- env: seconds per turn of env.step() with scripted turns (one tool call, one submit)
  and no model, split into the tool's own time and the env's bookkeeping around it;
- vector: turns per second of gym.make_vec with 1, 2, 4 and 8 envs, sync and async;
- tools: latency of one call of each tool, p50 and p99;
- ppo: one PPO iteration split into generation, env, forward passes and optimisation, plus
  generated tokens per second; and env time as a share of the iteration.
- prefix: the update's tokens computed per episode and its seconds, on one batch of
  episodes, with and without shared-prefix computation and length-grouped minibatches.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import textgym
from textgym.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "perf.json"

#: A fixed, model-free episode per env: one tool call, then a submission.
SCRIPTS = {
    "TextEnv-Calculator-v0": ("Calculator", "12*(3+4)", "Result=84<submit>"),
    "TextEnv-Sentiment-v0": ("Sentiment", "a wonderful, moving film", "a wonderful film<submit>"),
    "TextEnv-WikiSearch-v0": ("Wiki", "river city founded", "Result=unknown<submit>"),
    "TextEnv-Python-v0": ("Python", "print(sum(i * i for i in range(100)))", "Result=1<submit>"),
}


def _turns(env: gym.Env, env_id: str, script: tuple[str, str, str] | None = None):
    """The scripted episode's two turns as actions: a call, then the final answer."""
    tool, query, final = script or SCRIPTS[env_id]
    base = env.unwrapped
    return [base.encode_turn(f"<request><{tool}>{query}<call>"), base.encode_turn(final)]


def bench_env(episodes: int = 300) -> dict:
    """Per turn: env.step() total, of which the tool call, and the rest (env overhead)."""
    out = {}
    for env_id in SCRIPTS:
        env = gym.make(env_id)
        turns = _turns(env, env_id)
        step_s = []
        for i in range(episodes + 20):
            env.reset(seed=i)
            t0 = time.perf_counter()
            for action in turns:
                env.step(action)
            if i >= 20:  # warm-up: index builds, sandbox spares
                step_s.append((time.perf_counter() - t0) / len(turns))
        stats = env.unwrapped.timings[SCRIPTS[env_id][0]]
        tool_per_turn = stats.mean_s / len(turns)  # one call per two-turn episode
        per_turn = statistics.median(step_s)
        t0 = time.perf_counter()
        for i in range(episodes):
            env.reset(seed=i)
        reset_s = (time.perf_counter() - t0) / episodes
        out[env_id] = {
            "step_s_per_turn": per_turn,
            "tool_s_per_turn": tool_per_turn,
            "overhead_s_per_turn": max(0.0, per_turn - tool_per_turn),
            "reset_s": reset_s,
        }
        env.close()
    return out


#: Vector workloads: a fast tool (calculator) and a slow one (a 5 ms Python program).
VECTOR_WORKLOADS = {
    "calculator": ("TextEnv-Calculator-v0", None),
    "python_5ms": (
        "TextEnv-Python-v0",
        ("Python", "import time; time.sleep(0.005); print(1)", "Result=1<submit>"),
    ),
}


def bench_vector(rounds: int = 30) -> dict:
    """Turns per second of step() (resets excluded) with every slot playing the scripted
    episode, for 1, 2, 4 and 8 envs, sync, async and threaded (textgym.make_vec)."""
    out = {}
    for workload, (env_id, script) in VECTOR_WORKLOADS.items():
        probe = gym.make(env_id)
        turns = _turns(probe, env_id, script)
        probe.close()
        for mode in ("sync", "async", "threaded"):
            for n in (1, 2, 4, 8):
                vec = textgym.make_vec(env_id, n, mode)
                seconds, steps = 0.0, 0
                for r in range(rounds):
                    vec.reset(seed=r)
                    for action in turns:
                        t0 = time.perf_counter()
                        vec.step(tuple(action for _ in range(n)))
                        seconds += time.perf_counter() - t0
                        steps += n
                vec.close()
                out[f"{workload}/{mode}/{n}"] = {
                    "turns_per_s": steps / seconds,
                    "num_envs": n,
                    "mode": mode,
                    "env": env_id,
                }
    return out


def bench_tools(calls: int = 300) -> dict:
    """One call of each tool, through the env's own instance (the Python tool needs the
    sandbox session that reset() opens)."""
    out = {}
    for env_id, (tool, query, _) in SCRIPTS.items():
        env = gym.make(env_id)
        env.reset(seed=0)
        fn = env.unwrapped.tools[tool]
        for _ in range(20):
            fn(query)
        lat = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn(query)
            lat.append(time.perf_counter() - t0)
        env.close()
        out[tool] = {
            "p50_s": float(np.percentile(lat, 50)),
            "p99_s": float(np.percentile(lat, 99)),
            "calls": calls,
        }
    return out


SFT_DIR = Path("runs/perf/sft")


def warm_start(path: Path = SFT_DIR, steps: int = 150) -> Path:
    """A short SFT on oracle episodes, so PPO episodes look like tool use (a call, a
    submission) rather than one turn of noise. Reused when present."""
    from textgym.agents import SFTConfig
    from textgym.agents.train import train_sft

    model = path / "policy"  # where a textgym run keeps its model and tokenizer
    if not (model / "config.json").is_file():
        # A run folder left incomplete (killed mid-training) is moved aside, not reused.
        train_sft("TextEnv-Calculator-v0", path, SFTConfig(steps=steps), overwrite=True,
                  progress=False)
    return model


def bench_ppo(iterations: int = 4, num_envs: int = 16) -> dict:
    """Median PPO iteration (after one warm-up) on the calculator, default config, from a
    short SFT warm start."""
    from textgym.agents import PPO, PPOConfig
    from textgym.agents.train import make_policy

    init = warm_start()
    envs = gym.make_vec("TextEnv-Calculator-v0", num_envs=num_envs)
    env = gym.make("TextEnv-Calculator-v0")
    policy = make_policy(env, init)
    env.close()
    config = PPOConfig(seed=0)
    ppo = PPO(envs, policy, config)
    rows = [ppo.step() for _ in range(iterations + 1)][1:]
    envs.close()
    keys = ["generate", "env", "forward", "optimize", "total"]
    med = {k: statistics.median(r[f"time/ppo/{k}"] for r in rows) for k in keys}
    tokens = statistics.median(r["tokens/generated"] for r in rows)
    return {
        "config": {
            "episodes_per_iteration": config.episodes_per_iteration,
            "mini_batch_size": config.mini_batch_size,
            "ppo_epochs": config.ppo_epochs,
            "max_new_tokens": config.max_new_tokens,
            "num_envs": num_envs,
            "model_parameters": sum(p.numel() for p in policy.parameters()),
        },
        "seconds": med,
        "share": {k: med[k] / med["total"] for k in keys if k != "total"},
        "generated_tokens": tokens,
        "generated_tokens_per_s": tokens / med["generate"],
        "episode_tokens_mean": statistics.median(r["tokens/episode_len_mean"] for r in rows),
        "agent_tokens_mean": statistics.median(r["tokens/agent_tokens_mean"] for r in rows),
        "reward_mean": statistics.median(r["env/reward_mean"] for r in rows),
        "env_share_of_iteration": med["env"] / med["total"],
    }


def bench_kv_reuse(episodes: int = 64, num_envs: int = 16) -> dict:
    """Greedy rollouts with and without KV-cache reuse across tool turns: same model,
    same seeds, so the episodes must be identical and only the time differs."""
    from textgym.agents.rollouts import collect_episodes
    from textgym.agents.train import make_policy

    env = gym.make("TextEnv-Calculator-v0")
    policy = make_policy(env, warm_start())
    env.close()
    vec = gym.make_vec("TextEnv-Calculator-v0", num_envs=num_envs)
    seconds, runs = {}, {}
    for reuse in (False, True, False, True):  # interleaved, best of two each
        t0 = time.perf_counter()
        runs[reuse] = collect_episodes(
            vec,
            policy,
            episodes,
            seed=0,
            generator=torch.Generator().manual_seed(0),
            max_new_tokens=48,
            temperature=0.0,
            reuse_kv_cache=reuse,
        )
        seconds[reuse] = min(seconds.get(reuse, float("inf")), time.perf_counter() - t0)
    vec.close()
    identical = all(np.array_equal(a.tokens, b.tokens) for a, b in zip(runs[False], runs[True]))
    return {
        "episodes": episodes,
        "reencode_s": seconds[False],
        "reuse_s": seconds[True],
        "speedup": seconds[False] / seconds[True],
        "identical": identical,
    }


def update_tokens_per_episode(batch, config, share_prefix: bool, group_by_length: bool) -> float:
    """Token positions the update's forward passes run per episode and epoch, counted as
    ``ValueHeadLM.score_tokens`` runs them: each minibatch cut to its longest row, a
    shared prefix once, and (with ``group_by_length``) rows of very different lengths in
    groups padded each to its own longest."""
    from textgym.agents.kv_reuse import shared_prefix_length
    from textgym.agents.padding import CALL_COST_TOKENS, length_groups
    from textgym.agents.ppo_math import minibatch_order

    def positions(rows) -> int:
        lengths = batch.lengths[rows]
        width = int(lengths.max())
        ids, att = batch.ids[rows, :width], batch.attention[rows, :width]
        shared = shared_prefix_length(ids, att) if share_prefix else 0
        return shared + len(rows) * (width - shared)

    total = 0
    for epoch in range(config.ppo_epochs):
        order = minibatch_order(
            batch.lengths, config.mini_batch_size, torch.Generator().manual_seed(epoch),
            group_by_length,
        )
        for members in order:
            groups = [list(range(len(members)))]
            if group_by_length and len(members) > 2:
                lengths = batch.lengths[members]
                width = int(lengths.max())
                ids, att = batch.ids[members, :width], batch.attention[members, :width]
                shared = shared_prefix_length(ids, att) if share_prefix else 0
                groups = length_groups((lengths - shared).tolist(), CALL_COST_TOKENS + shared)
            total += sum(positions(members[g]) for g in groups)
    return total / (len(batch) * config.ppo_epochs)


def bench_prefix(episodes: int = 32, num_envs: int = 16, repeats: int = 2) -> dict:
    """One batch of warm-start episodes, learned from the same weights four ways: plain,
    with length-grouped minibatches and length-split passes, with the shared prefix, and
    with both (the default).
    Reports tokens computed per episode and the seconds of scoring and update (best of
    ``repeats``)."""
    import copy

    from textgym.agents import PPO, PPOConfig
    from textgym.agents.kv_reuse import shared_prefix_length
    from textgym.agents.rollouts import Batch, collect_episodes
    from textgym.agents.train import make_policy

    env = gym.make("TextEnv-Calculator-v0")
    policy = make_policy(env, warm_start())
    env.close()
    vec = gym.make_vec("TextEnv-Calculator-v0", num_envs=num_envs)
    records = collect_episodes(
        vec, policy, episodes, seed=0, generator=torch.Generator().manual_seed(0),
        max_new_tokens=48,
    )
    batch = Batch.from_episodes(records, 0)
    variants = {
        "plain": (False, False),
        "length_grouped": (False, True),
        "shared_prefix": (True, False),
        "both": (True, True),
    }
    out: dict = {
        "episodes": episodes,
        "episode_tokens_mean": float(batch.lengths.float().mean()),
        "shared_prefix_tokens": shared_prefix_length(batch.ids, batch.attention),
        "variants": {},
    }
    for name, (share, group) in variants.items():
        config = PPOConfig(
            seed=0,
            share_prefix=share,
            group_by_length=group,
            split_by_length=group,
            early_stopping=False,
        )
        best = {"forward": float("inf"), "optimize": float("inf")}
        for _ in range(repeats):
            ppo = PPO(vec, copy.deepcopy(policy), config)
            stats = ppo.learn(records)
            best["forward"] = min(best["forward"], stats["time/ppo/forward"])
            best["optimize"] = min(best["optimize"], stats["time/ppo/optimize"])
        out["variants"][name] = {
            "update_tokens_per_episode": update_tokens_per_episode(batch, config, share, group),
            "forward_s": best["forward"],
            "optimize_s": best["optimize"],
            "learn_s": best["forward"] + best["optimize"],
        }
    vec.close()
    plain, both = out["variants"]["plain"], out["variants"]["both"]
    out["tokens_ratio"] = plain["update_tokens_per_episode"] / both["update_tokens_per_episode"]
    out["learn_speedup"] = plain["learn_s"] / both["learn_s"]
    return out


def machine() -> dict:
    import transformers

    return {
        "textgym": textgym.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gymnasium": gym.__version__,
        "cpus": __import__("os").cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }


SECTIONS = {
    "env": bench_env,
    "vector": bench_vector,
    "tools": bench_tools,
    "kv_reuse": bench_kv_reuse,
    "ppo": bench_ppo,
    "prefix": bench_prefix,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["machine"] = machine()
    for name in args.only:
        t0 = time.perf_counter()
        results[name] = SECTIONS[name]()
        print(f"[{name}] {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        print(json.dumps(results[name], indent=1))
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
