"""The board: its folder, its settings checks, and merging submitted entries into it.

A board lives in one folder::

    leaderboard.json   the record: envs (version, split hash, headline metric), entries
    leaderboard.md     tables made from the JSON
    leaderboard.png    the headline metric per env and agent
    cells/AGENT/ENV.json   one finished evaluation each, with the key it was made under

The cells are written by :mod:`textgym.app.leaderboard_runner`, which evaluates agents.

``merge`` into a folder without a board starts one for the envs the entries cover.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from textgym.leaderboard.records import (
    BOARD_SCHEMA,
    env_info,
    provenance,
)
from textgym.leaderboard.report import write_board
from textgym.leaderboard.validate import InvalidEntry, load_entry
from textgym.registration import env_ids as registered_env_ids

__all__ = [
    "EnvInfos",
    "board_for",
    "check_episodes",
    "jsonable_kwargs",
    "load_board",
    "make_env",
    "merge_entries",
    "put_entry",
    "restamp",
    "slug",
]


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "agent"


def check_episodes(episodes: int | None) -> None:
    if episodes is not None and (not isinstance(episodes, int) or episodes < 1):
        raise ValueError(f"episodes must be a positive int or None, got {episodes!r}")


def jsonable_kwargs(env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` as they read back from JSON (tuples become lists), so a saved cell
    key compares equal to a fresh one; the board and the cell files record them."""
    try:
        return json.loads(json.dumps(dict(env_kwargs or {}), sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"env_kwargs must be JSON values, got {env_kwargs!r} ({exc})") from None


def make_env(env_id: str, env_kwargs: Mapping[str, Any] | None) -> gym.Env:
    return gym.make(env_id, **dict(env_kwargs or {}))


def _env_info(env_id: str, env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`env_info` of the env as ``gym.make(env_id, **env_kwargs)`` builds it: kwargs
    that configure the task (a level, a task seed) give another test split and hash."""
    info = env_info(env_id)  # the registration check and the registered version
    if not env_kwargs:
        return info
    env = make_env(env_id, env_kwargs)
    try:
        task = env.unwrapped.task
        return dict(
            info,
            split_hash=task.split_hash(),
            test_size=task.test_size,
            metric=getattr(task, "leaderboard_metric", info["metric"]),
        )
    finally:
        env.close()


class EnvInfos:
    """env id -> env info under one set of env kwargs, computed once per run (a split hash
    builds the whole split). Pass one as ``env_infos`` to
    :func:`~textgym.leaderboard.validate_entry` to check an entry made with env kwargs."""

    def __init__(self, env_kwargs: Mapping[str, Any] | None = None) -> None:
        self.env_kwargs = dict(env_kwargs or {})
        self._cache: dict[str, dict[str, Any]] = {}

    def __call__(self, env_id: str) -> dict[str, Any]:
        if env_id not in self._cache:
            self._cache[env_id] = _env_info(env_id, self.env_kwargs)
        return self._cache[env_id]


def load_board(out_dir: str | Path) -> dict[str, Any] | None:
    """The board in ``out_dir``, or ``None`` if there is none yet."""
    path = Path(out_dir) / "leaderboard.json"
    if not path.is_file():
        return None
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); move it away to start over") from None
    if board.get("schema") != BOARD_SCHEMA:
        raise ValueError(f"{path}: schema {board.get('schema')!r} is not {BOARD_SCHEMA!r}")
    return board


def _new_board(env_ids: Iterable[str], episodes: int | None, seed: int, infos: EnvInfos):
    return {
        "schema": BOARD_SCHEMA,
        "episodes": episodes,
        "seed": seed,
        "env_kwargs": jsonable_kwargs(infos.env_kwargs),
        "provenance": provenance(seed=seed),
        "envs": [
            {
                k: infos(env_id)[k]
                for k in ("env", "env_version", "split_hash", "test_size", "metric")
            }
            for env_id in env_ids
        ],
        "entries": [],
    }


def board_for(out_dir, env_ids, episodes, seed, infos) -> dict[str, Any]:
    """The existing board in ``out_dir`` (which must rank the same envs the same way), or a
    new one."""
    board = load_board(out_dir)
    if board is None:
        return _new_board(env_ids, episodes, seed, infos)
    if env_ids is not None and [e["env"] for e in board["envs"]] != list(env_ids):
        raise ValueError(
            f"{out_dir} ranks {[e['env'] for e in board['envs']]}, not {list(env_ids)}; "
            "use another --out for a different set of envs"
        )
    if (board["episodes"], board["seed"]) != (episodes, seed):
        raise ValueError(
            f"{out_dir} was made with episodes={board['episodes']}, seed={board['seed']}; "
            "use another --out for other settings"
        )
    made_with = board.get("env_kwargs") or {}  # boards from before env kwargs had none
    if made_with != jsonable_kwargs(infos.env_kwargs):
        raise ValueError(
            f"{out_dir} was made with env kwargs {made_with}, not {infos.env_kwargs}; "
            "use another --out for other env kwargs"
        )
    for env in board["envs"]:
        current = infos(env["env"])
        if env["split_hash"] != current["split_hash"]:
            raise ValueError(
                f"{out_dir}: the test split of {env['env']} changed since the board was "
                "made (another textgym version?); start a new board in another --out"
            )
    return board


def put_entry(board: dict[str, Any], entry: Mapping[str, Any]) -> None:
    """Add ``entry``, replacing one with the same agent name."""
    name = entry["agent"]["name"]
    board["entries"] = [e for e in board["entries"] if e["agent"]["name"] != name]
    board["entries"].append(dict(entry))


def restamp(board: dict[str, Any]) -> None:
    board["provenance"] = provenance(seed=board["seed"])


def _settings_of(path: str | Path, infos: EnvInfos) -> tuple[int | None, int] | None:
    """(episodes, seed) a new board takes from the first entry: ``None`` episodes when its
    cells cover whole test splits. ``None`` when the file cannot say (unreadable, malformed
    or an unknown env); then validation gives the reason."""
    try:
        cells = json.loads(Path(path).read_text())["results"]
        full = all(cell["episodes"] == infos(cell["env"])["test_size"] for cell in cells)
        return (None if full else cells[0]["episodes"]), cells[0]["seed"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def _board_from_entries(entries, episodes, seed, infos) -> dict[str, Any]:
    """A new board for the envs the entries cover, in registry order."""
    covered = {cell["env"] for entry in entries for cell in entry["results"]}
    order = {env_id: k for k, env_id in enumerate(registered_env_ids())}
    env_ids = sorted(covered, key=lambda env_id: (order.get(env_id, len(order)), env_id))
    return _new_board(env_ids, episodes, seed, infos)


def merge_entries(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    chart: bool = True,
    env_kwargs: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Validate each entry file and merge it into the board in ``out_dir``.

    Without a board there, a new one is made for the envs the entries cover, with the
    first entry's episode count and seed (and ``env_kwargs``, what the entries were
    evaluated with). Every entry is checked before any is merged, so one bad file merges
    nothing. Returns the board and the merged agent names. Raises :class:`InvalidEntry`
    with the reason.
    """
    if not paths:
        raise ValueError("give at least one entry file")
    board = load_board(out_dir)
    if board is not None and env_kwargs is not None:
        # A board records its env kwargs; merging under others would mix test splits.
        made_with = board.get("env_kwargs") or {}
        if made_with != jsonable_kwargs(env_kwargs):
            raise ValueError(f"{out_dir} was made with env kwargs {made_with}, not {env_kwargs}")
    infos = EnvInfos(env_kwargs if board is None else board.get("env_kwargs"))
    if board is None:
        episodes, seed = _settings_of(paths[0], infos) or (None, 0)
    else:
        episodes, seed = board["episodes"], board["seed"]
    entries = [load_entry(p, episodes=episodes, env_infos=infos) for p in paths]
    if board is None:
        board = _board_from_entries(entries, episodes, seed, infos)
    ranked = {e["env"] for e in board["envs"]}
    for path, entry in zip(paths, entries):
        # An entry may cover only some of the board's envs (a specialist); the report
        # shows "-" for the rest.
        extra = {cell["env"] for cell in entry["results"]} - ranked
        if extra:
            raise InvalidEntry(f"{Path(path).name}: envs {sorted(extra)} are not on this board")
        seeds = {cell["seed"] for cell in entry["results"]}
        if seeds != {board["seed"]}:
            raise InvalidEntry(
                f"{Path(path).name}: evaluated with seed(s) {sorted(seeds)}; the board's "
                f"seed is {board['seed']}"
            )
    for entry in entries:
        put_entry(board, entry)
    restamp(board)
    write_board(board, out_dir, chart=chart)
    return board, [e["agent"]["name"] for e in entries]
