"""Seat specs for the multi-agent envs: who plays a seat (``scripted``, ``oracle``,
``random`` or a factory's spec), checked against the env's seats before any game."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from gymnasium import spaces

__all__ = [
    "BUILTIN_SEAT_SPECS",
    "SeatPolicy",
    "SeatFactory",
    "resolve_seat_specs",
    "build_seat",
    "reset_seats",
]

BUILTIN_SEAT_SPECS = ("scripted", "oracle", "random")

# The env methods behind each scripted spec, in order of preference: an env with only an
# oracle still has a scripted seat, its oracle.
_SCRIPTED_METHODS = {
    "scripted": ("scripted_action", "oracle_action"),
    "oracle": ("oracle_action",),
}


class SeatPolicy(Protocol):
    """Anything that plays a seat: ``act(obs, info) -> token ids``.

    ``obs`` is the seat's real context (the padded observation cut to ``info["length"]``),
    the shape single-agent agents read. An optional ``reset(seed)`` is called before each
    game with a per-game, per-seat seed.
    """

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray: ...


SeatFactory = Callable[[str, Any, str], SeatPolicy]


def _scripted_method(env: Any, spec: str) -> Callable[[str], np.ndarray] | None:
    """The env's method behind the scripted spec ``spec``, or None when it has none."""
    for name in _SCRIPTED_METHODS.get(spec, ()):
        method = getattr(env.unwrapped, name, None)
        if callable(method):
            return method
    return None


class _ScriptedSeat:
    """A seat whose turns come from the env itself (``scripted_action``/``oracle_action``)."""

    def __init__(self, method: Callable[[str], np.ndarray], agent: str):
        self.method, self.agent = method, agent

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return np.asarray(self.method(self.agent), dtype=np.int64)


class _RandomSeat:
    """Uniformly random token ids over an integer ``Box`` action space."""

    def __init__(self, space: spaces.Space, agent: str):
        if not (isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.integer)):
            raise TypeError(
                f"the random seat needs an integer Box action space; seat {agent} has {space}"
            )
        self.space = space
        self.rng = np.random.default_rng(0)  # reseeded per game by reset()

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        return self.rng.integers(self.space.low, self.space.high, endpoint=True, dtype=np.int64)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def resolve_seat_specs(
    env: Any,
    seats: str | Sequence[str],
    *,
    ma_id: str,
    seat_factory: SeatFactory | None = None,
    agents: Sequence[str] | None = None,
) -> dict[str, str]:
    """Check ``seats`` against the env's seats and give ``{seat: spec}``.

    ``seats`` is one spec per seat (in ``env.possible_agents`` order) or one spec for all
    seats; a bare string is one spec. ``agents`` narrows the seats (play leaves out the
    human's). Raises ``ValueError`` naming the seats and the accepted specs.
    """
    agents = list(env.possible_agents if agents is None else agents)
    specs = [seats] if isinstance(seats, str) else list(seats)
    if len(specs) == 1:
        specs = specs * len(agents)
    if len(specs) != len(agents):
        raise ValueError(
            f"{ma_id} has {_count(len(agents), 'seat')} to fill ({', '.join(agents)}); got "
            f"{_count(len(specs), 'seat spec')} ({', '.join(map(repr, specs))}): give one "
            "spec per seat, in that order, or one spec for all seats"
        )
    accepted = [spec for spec in _SCRIPTED_METHODS if _scripted_method(env, spec)] + ["random"]
    if seat_factory is not None:
        extra = "or any spec your seat_factory accepts"
    else:
        extra = "agent specs such as ppo:PATH need a seat_factory"
    for agent, spec in zip(agents, specs):
        if not isinstance(spec, str) or not spec:
            raise ValueError(f"seat {agent} of {ma_id}: a seat spec is a non-empty string")
        builtin = spec in BUILTIN_SEAT_SPECS
        if (builtin and spec not in accepted) or (not builtin and seat_factory is None):
            raise ValueError(
                f"seat spec {spec!r} for seat {agent} of {ma_id} is not accepted; seats: "
                f"{', '.join(agents)}; accepted specs: {' | '.join(accepted)} ({extra})"
            )
    return dict(zip(agents, specs))


def build_seat(
    env: Any, agent: str, spec: str, ma_id: str, seat_factory: SeatFactory | None
) -> SeatPolicy:
    method = _scripted_method(env, spec)
    if method is not None:
        return _ScriptedSeat(method, agent)
    if spec == "random":
        return _RandomSeat(env.action_space(agent), agent)
    assert seat_factory is not None  # resolve_seat_specs checked it
    try:
        seat = seat_factory(spec, env, agent)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        # Say which seat the factory refused; the factory's message says why.
        raise type(exc)(f"seat {agent} of {ma_id} ({spec!r}): {exc}") from exc
    if not callable(getattr(seat, "act", None)):
        raise TypeError(
            f"seat_factory({spec!r}, env, {agent!r}) returned {type(seat).__name__}, which "
            "has no act(obs, info)"
        )
    return seat


def reset_seats(policies: Mapping[str, SeatPolicy], game_seed: int) -> None:
    for i, policy in enumerate(policies.values()):
        reset = getattr(policy, "reset", None)
        if callable(reset):
            # Distinct, reproducible streams per seat: two random seats never mirror.
            reset(seed=int(np.random.SeedSequence([game_seed, i]).generate_state(1)[0]))
