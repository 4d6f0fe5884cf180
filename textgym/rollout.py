"""Running agents on an env: the ``Agent`` protocol, typed episode records, evaluation.

Only the Gymnasium API is used, so any env following the token-sequence contract works.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from textgym.checks import positive_int
from textgym.tokenizer import decode

__all__ = ["Agent", "Episode", "EvalResult", "run_episode", "evaluate", "episode_record"]


@runtime_checkable
class Agent(Protocol):
    """Anything that writes turns: ``act(obs, info) -> token ids``.

    ``reset(seed)`` is called before each episode with a per-episode seed, so a stochastic
    agent's behaviour on episode ``i`` does not depend on the episodes before it.
    """

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray: ...


@dataclass
class Episode:
    """One finished episode: what evaluation records, and what SFT and PPO train on (one
    record type for both, so a demonstration is an evaluated episode as it is).

    The final observation is the whole episode (the env holds the token sequence) and the
    agent mask marks the agent's tokens, so ``(tokens, agent_mask, rewards)`` describe it
    fully; the other fields say where it came from and what happened in it.
    """

    tokens: np.ndarray  # int64 [L]: the final context
    agent_mask: np.ndarray  # bool [L]: True on agent tokens, aligned with tokens
    rewards: list[float]  # one per step
    success: bool
    terminated: bool = False
    truncated: bool = False
    split: str = "?"
    index: int = -1  # the item of the split; -1: not known (a vector env's episode)
    seed: int | None = None  # the reset seed
    actions: list[np.ndarray] = field(default_factory=list)  # one per step
    answer: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    # Length of the reset observation (the task prompt). An encoder-decoder policy encodes
    # it and decodes the rest; None: the tokens before the first agent token.
    prompt_len: int | None = None
    # Episodes of one collection with the same group started from the same reset seed (the
    # same item), for group advantages (GRPO, RLOO); -1: not collected in groups.
    group: int = -1

    @property
    def reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def turns(self) -> int:
        return len(self.actions)

    @property
    def agent_tokens(self) -> int:
        return int(self.agent_mask.sum())

    @property
    def prompt_length(self) -> int:
        """Tokens of the task prompt: ``prompt_len``, else those before the first agent
        token."""
        if self.prompt_len is not None:
            return self.prompt_len
        first = np.flatnonzero(self.agent_mask)
        return int(first[0]) if len(first) else len(self.tokens)


def episode_record(episode: Episode, tokenizer=None) -> dict[str, Any]:
    """One episode as a JSON-able dict (``textgym eval --save-episodes``): the text when a
    tokenizer is given, the token ids and agent mask, rewards, tool calls and outcome."""
    record: dict[str, Any] = {
        "split": episode.split,
        "index": episode.index,
        "seed": episode.seed,
        "success": episode.success,
        "reward": episode.reward,
        "rewards": episode.rewards,
        "answer": episode.answer,
        "terminated": episode.terminated,
        "truncated": episode.truncated,
        "turns": episode.turns,
        "tool_calls": [
            {k: v for k, v in call.items() if k != "latency"} for call in episode.tool_calls
        ],
        "tokens": episode.tokens.tolist(),
        "agent_mask": episode.agent_mask.astype(int).tolist(),
        "actions": [a.tolist() for a in episode.actions],
    }
    if tokenizer is not None:
        record["text"] = decode(tokenizer, episode.tokens)
    return record


@dataclass
class EvalResult:
    """Aggregate scores of an evaluation run."""

    env_id: str
    split: str
    episodes: list[Episode]

    @property
    def n(self) -> int:
        return len(self.episodes)

    @property
    def success_rate(self) -> float:
        return float(np.mean([e.success for e in self.episodes])) if self.episodes else 0.0

    @property
    def mean_reward(self) -> float:
        return float(np.mean([e.reward for e in self.episodes])) if self.episodes else 0.0

    @property
    def mean_tool_calls(self) -> float:
        return float(np.mean([len(e.tool_calls) for e in self.episodes])) if self.episodes else 0.0

    @property
    def tool_call_rate(self) -> float:
        """The fraction of episodes with at least one tool call."""
        return float(np.mean([bool(e.tool_calls) for e in self.episodes])) if self.episodes else 0.0

    @property
    def invalid_call_rate(self) -> float:
        calls = [c for e in self.episodes for c in e.tool_calls]
        return float(np.mean([not c["valid"] for c in calls])) if calls else 0.0

    @property
    def mean_agent_tokens(self) -> float:
        return float(np.mean([e.agent_tokens for e in self.episodes])) if self.episodes else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "env": self.env_id,
            "split": self.split,
            "episodes": self.n,
            "success_rate": self.success_rate,
            "mean_reward": self.mean_reward,
            "mean_tool_calls": self.mean_tool_calls,
            "tool_call_rate": self.tool_call_rate,
            "invalid_call_rate": self.invalid_call_rate,
            "mean_agent_tokens": self.mean_agent_tokens,
        }


def run_episode(
    env: gym.Env,
    agent: Agent,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    max_steps: int = 10_000,
) -> Episode:
    """Play one episode of ``agent`` on ``env`` and record it.

    ``max_steps`` guards against an env that never ends; textgym envs end themselves.
    """
    agent.reset(seed=seed)
    obs, info = env.reset(seed=seed, options=options)
    start_info = info
    actions: list[np.ndarray] = []
    rewards: list[float] = []
    terminated = truncated = False
    for _ in range(max_steps):
        action = agent.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        actions.append(np.asarray(action))
        rewards.append(float(reward))
        if terminated or truncated:
            break
    else:
        raise RuntimeError(f"episode did not end within {max_steps} steps")
    return Episode(
        tokens=np.asarray(obs),
        agent_mask=np.asarray(info.get("agent_mask", np.zeros(len(obs), dtype=bool)))[: len(obs)],
        rewards=rewards,
        success=bool(info.get("success", False)),
        terminated=bool(terminated),
        truncated=bool(truncated),
        split=start_info.get("split", "?"),
        index=int(start_info.get("index", -1)),
        seed=seed,
        actions=actions,
        answer=info.get("answer"),
        tool_calls=list(info.get("tool_calls", [])),
    )


def evaluate(
    env: gym.Env,
    agent: Agent | Callable[[gym.Env], Agent],
    *,
    split: str = "test",
    episodes: int | None = None,
    seed: int = 0,
    progress: bool = True,
    env_id: str | None = None,
    on_episode: Callable[[Episode], None] | None = None,
) -> EvalResult:
    """Evaluate on the fixed items ``0 .. episodes-1`` of ``split``, episode ``i`` seeded
    with ``seed + i``: the same arguments always give the same scores.

    Args:
        agent: an :class:`Agent`, or a factory called with ``env`` (an agent class such
            as ``OracleAgent`` works as one).
        episodes: how many items; default the whole test split.
        on_episode: called with each finished episode (the leaderboard's progress bar).
    """
    # A class has ``reset`` and ``act`` too, so it passes the protocol check: a class (or
    # any other non-agent callable) is a factory.
    if isinstance(agent, type) or not isinstance(agent, Agent):
        agent = agent(env)
    task = getattr(env.unwrapped, "task", None)
    if episodes is None:
        if task is None or split != "test":
            raise ValueError("episodes must be given unless evaluating a textgym test split")
        episodes = task.test_size
    positive_int("episodes", episodes)
    if split == "test" and task is not None and episodes > task.test_size:
        raise ValueError(f"the test split has {task.test_size} items; asked for {episodes}")
    name = env_id or (env.spec.id if env.spec is not None else type(env.unwrapped).__name__)
    records = []
    for i in tqdm(range(episodes), desc=f"eval {name}", disable=not progress, unit="ep"):
        record = run_episode(env, agent, seed=seed + i, options={"split": split, "index": i})
        records.append(record)
        if on_episode is not None:
            on_episode(record)
    return EvalResult(env_id=name, split=split, episodes=records)
