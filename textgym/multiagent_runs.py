"""Running seats on the multi-agent envs: evaluation and play, for ``textgym eval`` and
``textgym play`` on the ``TextMA-*`` ids.

A *seat spec* says who plays a seat:

- ``scripted``: the env's scripted seat, its ``scripted_action(agent)`` (the clue game's
  :class:`ScriptedClueGiver` or :class:`ScriptedGuesser` by role, the race's oracle), or
  ``oracle_action(agent)`` for an env that has only that.
- ``oracle``: the env's ``oracle_action(agent)``, for envs whose scripted seat is an
  oracle (the race). The clue game's scripted seats are not oracles, so it refuses it.
- ``random``: uniformly random token ids over the seat's action space, seeded per game.
- anything else: handed to ``seat_factory(spec, env, agent_name)``, which returns an
  object with ``act(obs, info) -> token ids`` (and optionally ``reset(seed)``). The
  application layer passes factories built on :func:`textgym.app.specs.make_agent` for
  ``ppo:``/``hf:`` specs; without a factory such specs are refused.

Layering: this module is textgym core, so it imports neither ``textgym.envs`` nor
``textgym.agents``. All it needs of an env it reads off the instance: ``tokenizer``,
``scripted_action``/``oracle_action`` (scripted seats), ``test_size`` (the test split,
absent or None without one) and ``encode_turn(text)`` (a person's turns).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pettingzoo import AECEnv
from tqdm.auto import tqdm

from textgym.checks import positive_int
from textgym.multiagent import make_multiagent
from textgym.multiagent_records import Game, MultiAgentResult, SeatOutcome
from textgym.multiagent_seats import (
    BUILTIN_SEAT_SPECS,
    SeatFactory,
    SeatPolicy,
    build_seat,
    reset_seats,
    resolve_seat_specs,
)
from textgym.tokenizer import decode

__all__ = [
    "BUILTIN_SEAT_SPECS",
    "Game",
    "MultiAgentResult",
    "SeatOutcome",
    "SeatPolicy",
    "evaluate_multiagent",
    "play_multiagent",
    "resolve_seat_specs",
]


# ---- one game ------------------------------------------------------------------------


def _view(obs: Any, info: Mapping[str, Any]) -> np.ndarray:
    """The seat's real context: the padded observation cut to ``info["length"]``."""
    ids = np.asarray(obs, dtype=np.int64).reshape(-1)
    return ids[: int(info.get("length", len(ids)))].copy()


def _record(seat: SeatOutcome, obs: Any, info: Mapping[str, Any], reward: float = 0.0) -> None:
    """Bring ``seat`` up to date with what the env just reported for it."""
    seat.reward += float(reward)
    seat.tokens = _view(obs, info)
    # The race reports "winner"; the cooperative clue game reports "success" for both.
    won = next((info[key] for key in ("winner", "success") if key in info), None)
    seat.won = None if won is None else bool(won)


MoveHook = Callable[[str, np.ndarray], None]


_Played = tuple[dict[str, SeatOutcome], int, bool]  # the seats (text still empty), steps, truncated


def _blank_seats(env: Any) -> dict[str, SeatOutcome]:
    return {
        agent: SeatOutcome(0.0, None, np.zeros(0, np.int64), "") for agent in env.possible_agents
    }


def _play_aec(
    env: Any, policies: Mapping[str, SeatPolicy], on_move: MoveHook | None, max_steps: int
) -> _Played:
    ends = _blank_seats(env)
    steps, truncated = 0, False
    for _ in range(max_steps):
        if not env.agents:
            return ends, steps, truncated
        agent = env.agent_selection
        obs, reward, term, trunc, info = env.last()
        # last() reports what the seat earned since it last moved, so the sum is its total.
        _record(ends[agent], obs, info, reward)
        if term or trunc:
            truncated = truncated or bool(trunc)
            env.step(None)
            continue
        env.step(policies[agent].act(ends[agent].tokens, info))
        steps += 1
        if on_move is not None:
            on_move(agent, _view(env.observe(agent), env.infos[agent]))
    raise RuntimeError(f"game did not end within {max_steps} agent steps")


def _play_parallel(
    env: Any,
    policies: Mapping[str, SeatPolicy],
    on_move: MoveHook | None,
    max_steps: int,
    observations: dict[str, Any],
    infos: dict[str, Any],
) -> _Played:
    ends = _blank_seats(env)
    for agent in observations:
        _record(ends[agent], observations[agent], infos[agent])
    truncated = False
    for steps in range(1, max_steps + 1):
        # A seat that is out of the race (the race's "out") has its actions ignored.
        moved = [agent for agent in env.agents if not infos[agent].get("out", False)]
        actions = dict.fromkeys(env.agents, np.zeros(0, np.int64))
        for agent in moved:
            actions[agent] = policies[agent].act(ends[agent].tokens, infos[agent])
        observations, rewards, _, truncs, infos = env.step(actions)
        for agent in observations:
            _record(ends[agent], observations[agent], infos[agent], rewards.get(agent, 0.0))
        truncated = truncated or any(truncs.values())
        if on_move is not None:
            for agent in moved:
                on_move(agent, ends[agent].tokens)
        if not env.agents:
            return ends, steps, truncated
    raise RuntimeError(f"game did not end within {max_steps} joint steps")


def _play_game(
    env: Any,
    policies: Mapping[str, SeatPolicy],
    *,
    index: int | None,
    seed: int,
    on_move: MoveHook | None = None,
    max_steps: int = 10_000,
) -> Game:
    """One game, game seed ``seed``, on test item ``index`` (None: the seed picks)."""
    reset_seats(policies, seed)
    options = None if index is None else {"split": "test", "index": index}
    if isinstance(env, AECEnv):
        env.reset(seed=seed, options=options)
        ends, steps, truncated = _play_aec(env, policies, on_move, max_steps)
    else:
        first = env.reset(seed=seed, options=options)
        ends, steps, truncated = _play_parallel(env, policies, on_move, max_steps, *first)
    for seat in ends.values():
        seat.text = decode(env.unwrapped.tokenizer, seat.tokens)
    return Game(index=index, seed=seed, steps=steps, truncated=truncated, seats=ends)


def _check_seed(seed: Any) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return int(seed)


# ---- evaluation ----------------------------------------------------------------------


def evaluate_multiagent(
    ma_id: str,
    seats: str | Sequence[str],
    *,
    games: int | None = None,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
    on_game: Callable[[Game], None] | None = None,
    seat_factory: SeatFactory | None = None,
) -> MultiAgentResult:
    """Play ``games`` games of ``ma_id`` with the seats ``seats`` and score every seat.

    Game ``i`` is test item ``i`` (when the env has a fixed test split), seeded with
    ``seed + i``; random seats are seeded from the game seed and their seat, so the same
    arguments always give the same summary.

    Args:
        seats: one seat spec per seat in ``possible_agents`` order, or one for all seats
            (see the module docstring for the grammar).
        games: how many; default the whole test split.
        env_kwargs: keyword arguments for :func:`textgym.make_multiagent`.
        on_game: called with each finished game (a progress display).
        seat_factory: builds the seats whose spec is not built in.
    """
    seed = _check_seed(seed)
    if games is not None:
        positive_int("games", games)
    env = make_multiagent(ma_id, **dict(env_kwargs or {}))
    try:
        specs = resolve_seat_specs(env, seats, ma_id=ma_id, seat_factory=seat_factory)
        test_size = getattr(env.unwrapped, "test_size", None)
        if games is None:
            if test_size is None:
                raise ValueError(f"{ma_id} has no fixed test split; give the number of games")
            games = test_size
        if test_size is not None and games > test_size:
            raise ValueError(f"{ma_id}'s test split has {test_size} games; asked for {games}")
        policies = {
            agent: build_seat(env, agent, spec, ma_id, seat_factory)
            for agent, spec in specs.items()
        }
        result = MultiAgentResult(
            env_id=ma_id,
            api="aec" if isinstance(env, AECEnv) else "parallel",
            split=None if test_size is None else "test",
            seed=seed,
            seat_specs=specs,
        )
        for i in tqdm(range(games), desc=f"eval {ma_id}", disable=not progress, unit="game"):
            game = _play_game(env, policies, index=None if test_size is None else i, seed=seed + i)
            result.games.append(game)
            if on_game is not None:
                on_game(game)
    finally:
        env.close()
    return result


# ---- play ----------------------------------------------------------------------------


class _Quit(Exception):
    """The person at the keyboard ended input (EOF)."""


class _HumanSeat:
    """Reads one turn per line and shows the seat's transcript whenever it changed: after
    the person's move, and again when the other seats' moves reached it."""

    def __init__(self, env: Any, input_fn: Callable[[str], str], print_fn: Callable[..., None]):
        self.env, self.input_fn, self.print_fn = env.unwrapped, input_fn, print_fn
        self.shown = np.zeros(0, np.int64)

    def show(self, view: np.ndarray) -> None:
        if not np.array_equal(view, self.shown):
            self.print_fn(decode(self.env.tokenizer, view))
            self.shown = view

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        self.show(obs)
        try:
            line = self.input_fn("> ")
        except EOFError:
            raise _Quit from None
        return np.asarray(self.env.encode_turn(line), dtype=np.int64)


def play_multiagent(
    ma_id: str,
    human_seat: str,
    other_seats: str | Sequence[str] = "scripted",
    *,
    seed: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    seat_factory: SeatFactory | None = None,
    input_fn: Callable[[str], str] = input,
    print_fn: Callable[..., None] = print,
) -> int:
    """Play ``human_seat`` of ``ma_id`` yourself, one turn per line, until EOF (returns 0).

    Markers are typed as text (``<request><Wiki>query<call>``, ``Result=5<submit>``).
    ``other_seats`` are the specs of the remaining seats (in ``possible_agents`` order,
    or one for all). Games are train items picked by the seed, game ``g`` seeded with
    ``seed + g``; ``seed=None`` draws one from the OS.
    """
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    game_seed = _check_seed(seed)
    env = make_multiagent(ma_id, **dict(env_kwargs or {}))
    try:
        agents = list(env.possible_agents)
        if human_seat not in agents:
            raise ValueError(f"{ma_id} has no seat {human_seat!r}; seats: {', '.join(agents)}")
        others = [agent for agent in agents if agent != human_seat]
        specs = resolve_seat_specs(
            env, other_seats, ma_id=ma_id, seat_factory=seat_factory, agents=others
        )
        human = _HumanSeat(env, input_fn, print_fn)
        policies: dict[str, SeatPolicy] = {
            agent: human
            if agent == human_seat
            else build_seat(env, agent, specs[agent], ma_id, seat_factory)
            for agent in agents
        }

        def on_move(agent: str, view: np.ndarray) -> None:
            if agent == human_seat:
                human.show(view)

        print_fn(
            f"You are {human_seat} in {ma_id} (others: "
            f"{', '.join(f'{agent}={spec}' for agent, spec in specs.items())}). Type one "
            "turn per line; markers are written as text, e.g. <request><Wiki>query<call> or "
            "Result=5<submit>. Ctrl-D quits.\n"
        )
        while True:
            human.shown = np.zeros(0, np.int64)
            try:
                game = _play_game(env, policies, index=None, seed=game_seed, on_move=on_move)
            except _Quit:
                print_fn()
                return 0
            print_fn(_game_over(game, human_seat))
            game_seed += 1
    finally:
        env.close()


def _game_over(game: Game, human_seat: str) -> str:
    rewards = ", ".join(f"{agent} {reward:g}" for agent, reward in game.rewards.items())
    winners = game.winners
    won = "" if winners is None else f"; winners: {', '.join(winners) or 'none'}"
    status = " (truncated)" if game.truncated else ""
    return f"\ngame over{status}: rewards {rewards}{won}; you were {human_seat}\n"
