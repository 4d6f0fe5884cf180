"""The leaderboard's records: one *cell* (an agent on one env's test split), one *entry* (an
agent on every env, the submission format) and the provenance both carry.

Every metric is recomputed from the per-episode lists a cell keeps, so an entry whose
headline numbers were edited after the run no longer matches its own episodes and is
rejected (see :mod:`textgym.leaderboard.validate`).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

import textgym
from textgym.rollout import EvalResult

__all__ = [
    "ENTRY_SCHEMA",
    "ENTRY_SCHEMAS",
    "BOARD_SCHEMA",
    "METRICS",
    "env_info",
    "cell_from_result",
    "metrics_from_episodes",
    "provenance",
]

#: /2 added difficulty tiers: a cell may name its ``tier``, and an entry may hold one cell
#: per (env, tier). A /1 entry is a /2 entry of continuity cells only, and still merges.
ENTRY_SCHEMA = "textgym-leaderboard-entry/2"
#: The entry formats this textgym reads, oldest first.
ENTRY_SCHEMAS = ("textgym-leaderboard-entry/1", ENTRY_SCHEMA)
#: /2 added each env's tiers, the board's ``tiers`` switch, and ``standings`` (intervals
#: and ranks, recomputed from the entries on every write).
BOARD_SCHEMA = "textgym-leaderboard/2"

#: Metric name -> what it means (the Markdown report prints these).
METRICS: dict[str, str] = {
    "success_rate": "share of test items solved (reward at or above the task's threshold)",
    "mean_reward": "mean episode return",
    "mean_tool_calls": "tool calls per episode",
    "invalid_call_rate": "malformed calls and unknown tools, as a share of all calls",
    "mean_agent_tokens": "tokens the agent wrote per episode",
    "episodes_per_second": "evaluation throughput on the machine in the provenance",
}

#: Per-episode lists a cell keeps; the metrics above (but throughput) derive from them.
PER_EPISODE = ("reward", "success", "tool_calls", "invalid_calls", "agent_tokens")


def env_info(env_id: str) -> dict[str, Any]:
    """What pins an env on the board: its registered version, test-split hash and size, and
    its headline metric. Raises ``ValueError`` for an id that is not registered."""
    if env_id not in gym.registry:
        same_name = sorted(
            spec.id for spec in gym.registry.values() if spec.name == env_id.rsplit("-v", 1)[0]
        )
        hint = f"; this textgym has {', '.join(same_name)}" if same_name else ""
        raise ValueError(f"env {env_id!r} is not registered{hint}")
    spec = gym.registry[env_id]
    env = gym.make(env_id)
    try:
        task = getattr(env.unwrapped, "task", None)
        if task is None:
            raise ValueError(f"{env_id} has no textgym task, so no fixed test split to rank on")
        return {
            "env": env_id,
            "env_version": spec.version,
            "split_hash": task.split_hash(),
            "test_size": task.test_size,
            "metric": getattr(task, "leaderboard_metric", "success_rate"),
        }
    finally:
        env.close()


def metrics_from_episodes(per_episode: Mapping[str, Sequence[Any]]) -> dict[str, float]:
    """The deterministic metrics of a cell, from its per-episode lists."""
    n = len(per_episode["reward"])
    if n == 0:
        raise ValueError("a cell needs at least one episode")
    calls = sum(per_episode["tool_calls"])
    return {
        "success_rate": sum(bool(s) for s in per_episode["success"]) / n,
        "mean_reward": sum(per_episode["reward"]) / n,
        "mean_tool_calls": calls / n,
        "invalid_call_rate": sum(per_episode["invalid_calls"]) / calls if calls else 0.0,
        "mean_agent_tokens": sum(per_episode["agent_tokens"]) / n,
    }


def cell_from_result(
    result: EvalResult, info: Mapping[str, Any], *, seed: int, seconds: float
) -> dict[str, Any]:
    """The record of one evaluated cell (``info`` from :func:`env_info`, or a tier's: then
    with its ``tier`` name, which the cell records)."""
    per_episode = {
        "reward": [e.reward for e in result.episodes],
        "success": [e.success for e in result.episodes],
        "tool_calls": [len(e.tool_calls) for e in result.episodes],
        "invalid_calls": [sum(not c["valid"] for c in e.tool_calls) for e in result.episodes],
        "agent_tokens": [e.agent_tokens for e in result.episodes],
    }
    metrics = metrics_from_episodes(per_episode)
    metrics["episodes_per_second"] = result.n / seconds if seconds > 0 else 0.0
    tier = {"tier": info["tier"]} if info.get("tier") is not None else {}
    return {
        "env": info["env"],
        "env_version": info["env_version"],
        **tier,
        "split": "test",
        "split_hash": info["split_hash"],
        "episodes": result.n,
        "seed": seed,
        "metric": info["metric"],
        "metrics": metrics,
        "seconds": seconds,
        "per_episode": per_episode,
    }


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def _hardware() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return info


def provenance(*, seed: int) -> dict[str, Any]:
    """Where and when a result was made: textgym version, git commit, seed, hardware, date."""
    return {
        "textgym_version": textgym.__version__,
        "git_commit": _git_commit(),
        "seed": seed,
        "hardware": _hardware(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
