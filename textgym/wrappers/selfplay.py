"""Self-play with one shared policy: a PettingZoo parallel text env as a Gymnasium vector
env whose slots are the seats of several games.

Any agent that trains on ``gym.make_vec`` (the PPO agent, for one) then plays every seat
of every game with the same weights::

    envs = SelfPlayVectorEnv(lambda: textgym.make_multiagent("TextMA-Race-v0"), num_games=8)
    ppo = PPO(envs, policy)

Slot ``g * S + s`` is seat ``s`` of game ``g``. Observations follow the single-agent
token-sequence contract (the seat's context without padding, ``info["agent_mask"]``), so
the adapter is the bridge from PettingZoo's token arrays back to the contract. A game's
slots all end on the step the game ends; slots of a finished game wait, ignoring their
actions, until the next ``reset``. Games must end all their seats together, as
``TextMA-Race-v0`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from textgym.checks import positive_int

__all__ = ["SelfPlayVectorEnv"]


class SelfPlayVectorEnv(gym.vector.VectorEnv):
    """``num_games`` copies of a parallel env, every seat a slot of one vector env.

    Args:
        make_env: returns a fresh PettingZoo ``ParallelEnv`` with token-array spaces and
            ``tokenizer``, ``stop_token_ids`` and ``max_turn_tokens`` attributes.
        num_games: games played at once.
    """

    def __init__(self, make_env: Callable[[], Any], num_games: int):
        positive_int("num_games", num_games)
        self.games = [make_env() for _ in range(num_games)]
        first = self.games[0]
        self.seats = list(first.possible_agents)
        self.num_envs = num_games * len(self.seats)
        vocab = len(first.tokenizer)
        self.single_observation_space = spaces.Sequence(spaces.Discrete(vocab), stack=True)
        self.single_action_space = spaces.Sequence(spaces.Discrete(vocab), stack=True)
        self.observation_space = spaces.Tuple([self.single_observation_space] * self.num_envs)
        self.action_space = spaces.Tuple([self.single_action_space] * self.num_envs)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.DISABLED}
        self._running = [False] * num_games

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``call("get_wrapper_attr", name)`` reads an attribute of the games (all equal)."""
        if name == "get_wrapper_attr":
            return tuple(getattr(self.games[0], args[0]) for _ in range(self.num_envs))
        results = [getattr(game, name) for game in self.games]
        results = [r(*args, **kwargs) if callable(r) else r for r in results]
        return tuple(r for r in results for _ in self.seats)

    def _slots(self, per_game: list[tuple[dict, dict]]):
        obs, masks, success = [], [], []
        for observations, infos in per_game:
            for seat in self.seats:
                info = infos.get(seat, {})
                length = int(info.get("length", 0))
                obs.append(np.asarray(observations[seat][:length], dtype=np.int64))
                masks.append(np.asarray(info["agent_mask"], dtype=bool))
                success.append(bool(info.get("success", False)))
        ones = np.ones(self.num_envs, dtype=bool)
        info = {
            "agent_mask": np.stack(masks),
            "_agent_mask": ones,
            "success": np.asarray(success),
            "_success": ones,
        }
        return tuple(obs), info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        seeds = (
            [None] * len(self.games) if seed is None else [seed + g for g in range(len(self.games))]
        )
        per_game = [game.reset(seed=s, options=options) for game, s in zip(self.games, seeds)]
        self._running = [True] * len(self.games)
        self._last = per_game
        return self._slots(per_game)

    def step(self, actions):
        n_seats = len(self.seats)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for g, game in enumerate(self.games):
            if not self._running[g]:
                continue
            seat_actions = {seat: actions[g * n_seats + s] for s, seat in enumerate(self.seats)}
            obs, rew, term, trunc, infos = game.step(seat_actions)
            self._last[g] = (obs, infos)
            for s, seat in enumerate(self.seats):
                rewards[g * n_seats + s] = rew.get(seat, 0.0)
                terminated[g * n_seats + s] = term.get(seat, False)
                truncated[g * n_seats + s] = trunc.get(seat, False)
            if not game.agents:
                self._running[g] = False
        obs, info = self._slots(self._last)
        return obs, rewards, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        for game in self.games:
            game.close()
