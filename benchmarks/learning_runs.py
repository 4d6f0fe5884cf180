"""Shared pieces of the learning benchmarks: timed SFT and PPO runs with a validation
curve, test-split measurements, and one plot of several curves.

Hygiene: presets are chosen on the **validation** split, train items ``0 ..
VALIDATION_ITEMS-1``. Demonstrations and PPO rollouts draw train items at random from
2**31 indices, so they meet a validation item with probability about 1e-4 per episode.
The fixed test split is measured once per preset, at the end of a run, and never read
while choosing.

Minutes are training minutes: the evaluations that draw a curve are timed apart and left
out, so a curve's x axis is what the training itself cost.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import textgym
from textgym import make_vec
from textgym.agents import PPO, PolicyAgent, PPOConfig, SFTConfig
from textgym.agents.sft import oracle_demonstrations, sft
from textgym.agents.train import make_policy
from textgym.env_spec import env_spec
from textgym.text_metrics import degeneration_metrics

VALIDATION_ITEMS = 200

#: The KL as a per-token mean in the loss (GRPO's form), beta 0.1, RLOO in groups of 4:
#: the free-text presets (sentiment, detox; the RLHF pipeline's sentiment).
KL_IN_LOSS_RLOO = {
    "kl_penalty": "loss",
    "kl_estimator": "k3",
    "init_kl_coef": 0.1,
    "advantage": "rloo",
    "group_size": 4,
    "advantage_norm": "scale",
}


@dataclass
class Curve:
    """Validation scores against training minutes. ``metric`` is the score a plot draws:
    ``"success"``, or ``"mean_reward"`` on the envs ranked by it (:func:`curve_metric`);
    ``success`` is kept either way."""

    label: str
    minutes: list[float] = field(default_factory=list)
    success: list[float] = field(default_factory=list)
    extra: list[dict[str, float]] = field(default_factory=list)
    metric: str = "success"

    def add(self, minutes: float, scores: dict[str, float]) -> None:
        self.minutes.append(round(minutes, 3))
        self.success.append(scores["success"])
        self.extra.append(scores)

    @property
    def values(self) -> list[float]:
        """The ``metric`` of each point."""
        return [scores[self.metric] for scores in self.extra]

    def as_dict(self) -> dict[str, Any]:
        out = {
            "label": self.label,
            "minutes": self.minutes,
            "success": self.success,
            "scores": self.extra,
        }
        if self.metric != "success":
            out["metric"] = self.metric
            out[self.metric] = self.values
        return out


def curve_metric(env: gym.Env) -> str:
    """The :func:`scores` key that ranks ``env``: ``"mean_reward"`` where its task's
    ``leaderboard_metric`` is the mean reward (sentiment, detox), else ``"success"``."""
    metric = getattr(env.unwrapped.task, "leaderboard_metric", "success_rate")
    return "mean_reward" if metric == "mean_reward" else "success"


def item_kind(env: gym.Env, split: str, index: int) -> str | None:
    """What kind of item this is, where an env has kinds worth reporting apart: the task
    family on Python, single- or multi-hop on WikiSearch."""
    task = env.unwrapped.task
    data = task.item(split, index).data
    if task.name == "python":
        return data["family"]
    if "path" in data:
        return "single-hop" if len(data["path"]) == 1 else "multi-hop"
    return None


def scores(env: gym.Env, agent, split: str, episodes: int) -> dict[str, Any]:
    """Success, reward, tool use and the degeneration of the final answers; and success
    per kind of item (:func:`item_kind`) where the env has kinds."""
    result = textgym.evaluate(env, agent, split=split, episodes=episodes, progress=False)
    answers = [e.answer or "" for e in result.episodes]
    degeneration = [degeneration_metrics(a) for a in answers]
    out = {
        "success": result.success_rate,
        "mean_reward": result.mean_reward,
        "tool_call_rate": result.tool_call_rate,
        "invalid_call_rate": result.invalid_call_rate,
        # Across episodes: one review written for every prompt scores 1/episodes here.
        "unique_answers": len(set(answers)) / max(len(answers), 1),
    }
    for key in ("distinct_1", "distinct_2", "repetition_rate", "length"):
        out[key] = float(np.mean([d[key] for d in degeneration]))
    if env.unwrapped.task.name == "detox":
        # The scorer's P(offensive) of every final continuation (the reward also zeroes
        # non-prose, which is not toxicity).
        toxicity = env.unwrapped.task.scorer.score(answers)
        out["mean_toxicity"] = float(np.mean(toxicity))
        out["toxic_share"] = float(np.mean([p > 0.5 for p in toxicity]))
    kinds: dict[str, list[bool]] = {}
    for e in result.episodes:
        kind = item_kind(env, e.split, e.index)
        if kind is not None:
            kinds.setdefault(kind, []).append(e.success)
    if kinds:
        out["success_by_kind"] = {k: float(np.mean(v)) for k, v in sorted(kinds.items())}
        out["items_by_kind"] = {k: len(v) for k, v in sorted(kinds.items())}
    return out


def validation(env: gym.Env, policy, episodes: int = VALIDATION_ITEMS) -> dict[str, float]:
    """Greedy scores on the validation items (train items 0 .. episodes-1)."""
    return scores(env, PolicyAgent(env, policy, temperature=0.0), "train", episodes)


def test_split(env: gym.Env, policy, episodes: int = 200) -> dict[str, dict[str, float]]:
    """Greedy and sampled scores on the fixed test split: read once per preset."""
    return {
        mode: scores(env, PolicyAgent(env, policy, temperature=t), "test", episodes)
        for mode, t in (("greedy", 0.0), ("sampled", 1.0))
    }


class _Budget(Exception):
    """Raised from the SFT callback when the time budget is spent."""


def timed_sft(
    env: gym.Env,
    policy,
    config: SFTConfig,
    curve: Curve | None,
    *,
    minutes: float | None = None,
    eval_every_steps: int = 200,
    start_minutes: float = 0.0,
    val_episodes: int = VALIDATION_ITEMS,
    done: dict[str, int] | None = None,
) -> float:
    """SFT for ``config.steps`` steps or ``minutes`` of training, whichever comes first,
    with a validation point every ``eval_every_steps``; returns the training minutes.
    ``done``, when given, gets the number of ``steps`` taken (to repeat the run by
    steps, which unlike minutes mean the same on every machine)."""
    demos = oracle_demonstrations(env, config.demonstrations, seed=config.seed, progress=False)
    t0 = time.perf_counter()
    spent_on_evals = 0.0

    def trained() -> float:
        return (time.perf_counter() - t0 - spent_on_evals) / 60

    def callback(step: int, loss: float) -> None:
        nonlocal spent_on_evals
        if done is not None:
            done["steps"] = step
        finished = minutes is not None and trained() >= minutes
        if curve is not None and (step % eval_every_steps == 0 or finished):
            e0 = time.perf_counter()
            curve.add(start_minutes + trained(), validation(env, policy, val_episodes))
            spent_on_evals += time.perf_counter() - e0
        if finished:
            raise _Budget

    try:
        sft(policy, demos, config, pad_id=env_spec(env).pad_id, progress=False, callback=callback)
    except _Budget:
        pass
    return trained()


def timed_ppo(
    env_id: str,
    env_kwargs: dict[str, Any],
    policy,
    config: PPOConfig,
    curve: Curve | None,
    *,
    minutes: float | None = None,
    eval_every: int = 5,
    start_minutes: float = 0.0,
    num_envs: int = 16,
    val_episodes: int = VALIDATION_ITEMS,
) -> tuple[float, list[dict[str, float]]]:
    """PPO for ``config.total_iterations`` iterations or ``minutes`` of training,
    whichever comes first, with a validation point every ``eval_every`` iterations;
    returns the training minutes and each iteration's stats."""
    envs = make_vec(env_id, min(num_envs, config.episodes_per_iteration), "sync", **env_kwargs)
    env = gym.make(env_id, **env_kwargs)
    ppo = PPO(envs, policy, config)
    rows = []
    trained = 0.0
    try:
        for _ in range(config.total_iterations):
            t0 = time.perf_counter()
            rows.append(ppo.step())
            trained += (time.perf_counter() - t0) / 60
            done = minutes is not None and trained >= minutes
            last = ppo.iteration == config.total_iterations
            if curve is not None and (ppo.iteration % eval_every == 0 or done or last):
                curve.add(start_minutes + trained, validation(env, policy, val_episodes))
            if done:
                break
    finally:
        envs.close()
        env.close()
    return trained, rows


def new_policy(env: gym.Env, size: str = "tiny", arch: str = "causal", seed: int = 0):
    return make_policy(env, seed=seed, arch=arch, size=size)


def plot_curves(curves: list[Curve], path: Path, title: str, ylabel: str | None = None) -> Path:
    """Validation scores of each curve (its ``metric``) against training minutes, in one
    PNG; ``ylabel`` defaults to the first curve's metric."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for curve in curves:
        ax.plot(curve.minutes, curve.values, marker="o", markersize=3, label=curve.label)
    if ylabel is None:
        ylabel = curves[0].metric.replace("_", " ") if curves else "success"
    ax.set_xlabel("training minutes (2 CPU cores; evaluations excluded)")
    ax.set_ylabel(f"greedy {ylabel}, validation items")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def machine() -> dict[str, Any]:
    import platform
    import sys

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
