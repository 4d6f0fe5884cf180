"""Soak: many episodes across every env in vector envs, watching for leaks.

    .venv/bin/python benchmarks/soak.py --episodes 10000     # about 2 minutes on 2 cores

Every registered env runs in a threaded vector env (the Python env's sandbox workers, the
wiki index connections and the thread pool all live in this process, so this process's
counters see them), alternating the oracle and the random agent. Every ``--sample``
episodes it records open file descriptors, child processes, threads and RSS. After a
warm-up (the first sample, when indexes are built and sandbox spares are up) each counter
may grow by at most its bound in BOUNDS; the run writes benchmarks/results/soak.json and
exits 1 if a bound is broken. tests/test_soak.py runs a short version in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import textgym
from textgym.fileio import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"

#: Allowed growth after warm-up. Children and threads may vary by a few while the sandbox
#: pool refills its spares in the background; RSS may grow a little as allocators settle.
BOUNDS = {"fds": 8, "children": 4, "threads": 4, "rss_mb": 64.0}


def _children() -> int:
    """Live descendants of this process (sandbox workers and their `unshare` parents)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    count, frontier = 0, {me}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier}
        count += len(frontier)
    return count


def settle(timeout: float = 5.0) -> None:
    """Wait for the sandbox pool's background refill (it spawns spare workers) to finish,
    so a sample is not taken half-way through a spawn."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        t.name.startswith("textgym-sandbox-refill") for t in threading.enumerate()
    ):
        time.sleep(0.01)


def counters() -> dict[str, float]:
    settle()
    rss_kb = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {
        "fds": len(os.listdir("/proc/self/fd")),
        "children": _children(),
        "threads": threading.active_count(),
        "rss_mb": rss_kb / 1024,
    }


def soak(
    episodes: int, *, num_envs: int = 4, rounds: int = 4, sample: int = 500, seed: int = 0
) -> dict:
    """Run ``episodes`` in total: ``rounds`` passes over every env id, each pass a fresh
    vector env, agents alternating between oracle and random.

    Leak check: for each env, the counters after its vector env is closed must not grow
    from the second pass (the first is warm-up) to the last, and the samples taken while
    it runs must not grow from its second to its last, by more than BOUNDS. Comparing an
    env with itself keeps process-wide, one-off state (the sandbox's warm pool, a built
    index) out of the check.
    """
    ids = textgym.env_ids()
    per_run = max(1, episodes // (rounds * len(ids)))
    running: dict[str, list[dict]] = {env_id: [] for env_id in ids}
    closed: dict[str, list[dict]] = {env_id: [] for env_id in ids}
    done = 0
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    for round_index in range(rounds):
        for k, env_id in enumerate(ids):
            vec = textgym.make_vec(
                env_id,
                num_envs,
                "threaded",
                # SAME_STEP: every slot is live after each step, so the oracle can act.
                vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            )
            vocab = vec.single_action_space.feature_space.n
            vec.reset(seed=seed + round_index)
            agent = "oracle" if (round_index + k) % 2 == 0 else "random"
            finished, next_sample = 0, min(sample, per_run // 2)
            while finished < per_run:
                if agent == "oracle":
                    actions = vec.call("oracle_action")
                else:
                    actions = tuple(
                        rng.integers(0, vocab, size=int(rng.integers(1, 40)))
                        for _ in range(num_envs)
                    )
                _, _, terminated, truncated, _ = vec.step(actions)
                ended = int(np.sum(terminated | truncated))
                finished += ended
                done += ended
                if finished >= next_sample:
                    running[env_id].append({"episodes": done, **counters()})
                    next_sample += sample
            vec.close()
            closed[env_id].append({"episodes": done, **counters()})

    def growth(series: list[dict]) -> dict[str, float]:
        # The first pass is warm-up: other envs' one-off state (a corpus, an index, the
        # sandbox's spares) appears during it.
        base = series[1] if len(series) > 2 else series[0]
        return {key: series[-1][key] - base[key] for key in BOUNDS}

    per_env = {
        env_id: {"after_close": growth(closed[env_id]), "while_running": growth(running[env_id])}
        for env_id in ids
    }
    worst = {
        key: max(max(g["after_close"][key], g["while_running"][key]) for g in per_env.values())
        for key in BOUNDS
    }
    return {
        "episodes": done,
        "num_envs": num_envs,
        "rounds": rounds,
        "seconds": time.perf_counter() - start,
        "bounds": BOUNDS,
        "growth_per_env": per_env,
        "worst_growth": worst,
        "within_bounds": all(worst[key] <= BOUNDS[key] for key in BOUNDS),
        "samples": {"running": running, "closed": closed},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = soak(args.episodes, num_envs=args.num_envs, sample=args.sample)
    result["machine"] = {
        "cpus": os.cpu_count(),
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
    }
    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=1))
    return 0 if result["within_bounds"] else 1


if __name__ == "__main__":
    sys.exit(main())
