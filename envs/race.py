"""``TextMA-Race-v0``: N agents race on the same problem of a single-agent textgym env.

A PettingZoo parallel env built on the single-agent envs: each seat plays its own copy
of ``env_id``, reset to the same item, and all seats move at once.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from textgym.multiagent import token_array_spaces
from textgym.tokenizer import encode_agent_text

__all__ = ["RaceEnv"]


class RaceEnv(ParallelEnv):
    """A race: the first correct answer wins, zero-sum.

    ## Description

    ``num_agents`` seats (``"player_0"``, ``"player_1"``, ...) get the same problem from a
    single-agent textgym env (``env_id``, Calculator by default): each seat plays its own
    copy, reset to the same split, index and seed, with the env's tools. Every step, each
    seat still in the race writes one turn (a tool call, or a final answer). A seat whose
    episode ends without success (a wrong answer, a turn limit) is out but stays until
    the race ends; its actions are ignored.

    ## Action Space

    ``Box(0, V-1, (max_turn_tokens,), int64)`` per seat: one turn of token ids, read up to
    its first stop token or first pad id (the single-agent env's ``max_turn_tokens``).

    ## Observation Space

    ``Box(0, V-1, (max_context,), int64)`` per seat: the seat's own episode context,
    right-padded with the pad id; ``info["length"]`` real tokens, ``info["agent_mask"]``
    on the seat's tokens.

    ## Rewards

    Zero-sum, given when the race ends. The seats that succeed on the same step share +1
    (each ``+1/|winners|``), every other seat gets ``-1/|losers|``. With no winner, or
    when every seat wins at once, all get 0. Rewards sum to 0.

    ## Starting State

    The same item for every seat: a random train item, or ``options={"split": "test",
    "index": i}``.

    ## Episode End

    All seats terminate together at the first step with a success, or when every seat is
    out; a seat whose own episode was truncated is reported truncated.

    ## Arguments

    - ``env_id`` ("TextEnv-Calculator-v0"): any registered single-agent textgym env.
    - ``num_agents`` (2): seats, at least 2.
    - ``env_kwargs``: keyword arguments for ``gym.make(env_id, ...)``.
    - ``render_mode``: ``"ansi"``.

    ## Scripted seats

    ``env.oracle_action(agent)`` is the single-agent oracle's turn for that seat, and
    ``env.scripted_action(agent)`` the same (the race's scripted seat is the oracle). The
    oracle against a random seat wins every test race (mean return +1 against -1);
    two oracles tie every race (0 each). ``env.test_size`` is the number of test races
    (the single-agent task's test split; None for an env without a task), and
    ``env.encode_turn(text)`` turns agent text with markers into an action.

    ## Version History

    - v0: initial release.
    """

    metadata = {"name": "textma_race_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        env_id: str = "TextEnv-Calculator-v0",
        num_agents: int = 2,
        env_kwargs: dict[str, Any] | None = None,
        render_mode: str | None = None,
    ):
        if not isinstance(num_agents, int) or isinstance(num_agents, bool) or num_agents < 2:
            raise ValueError(f"num_agents must be an int >= 2, got {num_agents!r}")
        if env_id not in gym.registry:
            raise ValueError(f"unknown env id {env_id!r}; run `textgym list` for the ids")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.env_id = env_id
        self.render_mode = render_mode
        self.possible_agents = [f"player_{i}" for i in range(num_agents)]
        self.envs = {
            agent: gym.make(env_id, **(env_kwargs or {})) for agent in self.possible_agents
        }
        base = self.envs[self.possible_agents[0]].unwrapped
        self.tokenizer = base.tokenizer
        self.stop_token_ids = base.stop_token_ids
        self.max_context = int(base.max_context)
        self.max_turn_tokens = int(base.max_turn_tokens)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        spaces = token_array_spaces(len(self.tokenizer), self.max_context, self.max_turn_tokens)
        self.observation_spaces = {agent: spaces[0] for agent in self.possible_agents}
        self.action_spaces = {agent: spaces[1] for agent in self.possible_agents}
        self.agents: list[str] = []
        self._np_random = np.random.default_rng()

    @property
    def test_size(self) -> int | None:
        """The number of test races: the single-agent task's test split, or None when
        ``env_id`` has no task (a third-party env that only follows the contract)."""
        task = getattr(self.envs[self.possible_agents[0]].unwrapped, "task", None)
        return None if task is None else int(task.test_size)

    def observation_space(self, agent: str):
        return self.observation_spaces[agent]

    def action_space(self, agent: str):
        return self.action_spaces[agent]

    def _pad(self, obs: np.ndarray) -> np.ndarray:
        out = np.full(self.max_context, self.pad_id, dtype=np.int64)
        ids = np.asarray(obs, dtype=np.int64)[: self.max_context]
        out[: len(ids)] = ids
        return out

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._np_random = np.random.default_rng(seed)
        # Only "split" and "index" are read; PettingZoo's API test passes other keys and
        # expects them to be ignored.
        options = {k: v for k, v in (options or {}).items() if k in ("split", "index")}
        test_size = self.test_size
        if "index" not in options and test_size is not None:
            split = options.get("split", "train")
            high = test_size if split == "test" else 2**31 - 1
            options = {"split": split, "index": int(self._np_random.integers(0, high))}
        # An env without a task (a third-party env that only follows the contract) gets
        # the same seed on every seat, which gives every seat the same problem.
        episode_seed = int(self._np_random.integers(0, 2**31 - 1))
        self.agents = list(self.possible_agents)
        self.out: dict[str, bool] = dict.fromkeys(self.agents, False)
        self.truncated_seats: dict[str, bool] = dict.fromkeys(self.agents, False)
        self._last: dict[str, tuple[np.ndarray, dict[str, Any]]] = {}
        observations, infos = {}, {}
        for agent in self.agents:
            obs, info = self.envs[agent].reset(seed=episode_seed, options=options or None)
            self._last[agent] = (obs, info)
            observations[agent] = self._pad(obs)
            infos[agent] = self._info(obs, info, agent)
        return observations, infos

    def _info(self, obs: np.ndarray, info: dict[str, Any], agent: str) -> dict[str, Any]:
        mask = np.zeros(self.max_context, dtype=bool)
        seat_mask = np.asarray(info["agent_mask"], dtype=bool)[: self.max_context]
        mask[: len(seat_mask)] = seat_mask
        return {
            "length": min(len(obs), self.max_context),
            "agent_mask": mask,
            "turn": int(info.get("turn", 0)),
            "out": self.out[agent],
            "success": bool(info.get("success", False)),
        }

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("step() after the race ended; call reset()")
        winners = []
        for agent in self.agents:
            if self.out[agent]:
                continue
            ids = np.asarray(actions.get(agent, np.zeros(0, np.int64)))
            if ids.ndim == 1 and ids.dtype.kind in "iu":
                pads = np.flatnonzero(ids == self.pad_id)
                ids = ids[: int(pads[0])] if len(pads) else ids
            obs, _, terminated, truncated, info = self.envs[agent].step(ids)
            self._last[agent] = (obs, info)
            if info.get("success"):
                winners.append(agent)
            if terminated or truncated:
                self.out[agent] = True
                self.truncated_seats[agent] = bool(truncated and not terminated)
        over = bool(winners) or all(self.out.values())
        rewards = dict.fromkeys(self.agents, 0.0)
        if winners and len(winners) < len(self.agents):
            losers = [agent for agent in self.agents if agent not in winners]
            for agent in winners:
                rewards[agent] = 1.0 / len(winners)
            for agent in losers:
                rewards[agent] = -1.0 / len(losers)
        observations = {agent: self._pad(self._last[agent][0]) for agent in self.agents}
        infos = {agent: self._info(*self._last[agent], agent) for agent in self.agents}
        for agent in self.agents:
            infos[agent]["winner"] = agent in winners
        truncations = {agent: over and self.truncated_seats[agent] for agent in self.agents}
        terminations = {agent: over and not truncations[agent] for agent in self.agents}
        if over:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def oracle_action(self, agent: str) -> np.ndarray:
        """The single-agent oracle's next turn for ``agent``'s copy of the problem."""
        return self.envs[agent].unwrapped.oracle_action()

    def scripted_action(self, agent: str) -> np.ndarray:
        """The scripted seat's next turn for ``agent``: the oracle's."""
        return self.oracle_action(agent)

    def encode_turn(self, text: str) -> np.ndarray:
        """Agent text with markers to an action (for scripted seats and people)."""
        return encode_agent_text(self.tokenizer, text)

    def render(self) -> str | None:
        parts = [
            f"== {agent} ==\n{self.envs[agent].unwrapped.transcript()}"
            for agent in self.possible_agents
        ]
        return "\n".join(parts)

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
