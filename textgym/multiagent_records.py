"""Records of multi-agent games: what each seat got, each game, and a whole evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SeatOutcome", "Game", "MultiAgentResult"]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


@dataclass
class SeatOutcome:
    """One seat at the end of one game."""

    reward: float  # the seat's total reward over the game
    won: bool | None  # None when the env reports no winner for this seat
    tokens: np.ndarray  # the seat's final context, unpadded
    text: str  # ``tokens`` decoded with the env's tokenizer


@dataclass
class Game:
    """One finished game."""

    index: int | None  # the test item, None when the env has no test split
    seed: int
    steps: int  # AEC: live turns (a tool call is one); parallel: joint steps
    truncated: bool
    seats: dict[str, SeatOutcome]

    @property
    def rewards(self) -> dict[str, float]:
        return {agent: seat.reward for agent, seat in self.seats.items()}

    @property
    def winners(self) -> tuple[str, ...] | None:
        """The winning seats, or None when the env reports no winner."""
        if all(seat.won is None for seat in self.seats.values()):
            return None
        return tuple(agent for agent, seat in self.seats.items() if seat.won)


@dataclass
class MultiAgentResult:
    """Aggregate scores of a multi-agent evaluation run."""

    env_id: str
    api: str  # "aec" or "parallel"
    split: str | None  # "test", or None when the env has no test split
    seed: int
    seat_specs: dict[str, str]
    games: list[Game] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.games)

    def mean_reward(self) -> dict[str, float]:
        return {
            agent: _mean([g.seats[agent].reward for g in self.games]) for agent in self.seat_specs
        }

    def win_rate(self) -> dict[str, float]:
        """Per seat, over the games; only seats the env reports a winner for in every game."""
        rates = {}
        for agent in self.seat_specs:
            won = [g.seats[agent].won for g in self.games]
            if won and all(w is not None for w in won):
                rates[agent] = _mean(won)
        return rates

    @property
    def mean_steps(self) -> float:
        return _mean([g.steps for g in self.games])

    def summary(self) -> dict[str, Any]:
        """A JSON-able dict of the run."""
        return {
            "env": self.env_id,
            "api": self.api,
            "split": self.split,
            "games": self.n,
            "seed": self.seed,
            "seats": dict(self.seat_specs),
            "mean_reward": self.mean_reward(),
            "win_rate": self.win_rate(),
            "mean_steps": self.mean_steps,
            "truncation_rate": _mean([g.truncated for g in self.games]),
        }
