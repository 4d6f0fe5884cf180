"""The board: its folder, its settings checks, and merging submitted entries into it.

A board lives in one folder::

    leaderboard.json   the record: envs (version, split hash, headline metric, tiers),
                       entries, and standings (intervals and ranks, derived)
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

from textgym.leaderboard.records import BOARD_SCHEMA, provenance
from textgym.leaderboard.report import write_board
from textgym.leaderboard.tiers import EnvInfos
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


def load_board(out_dir: str | Path) -> dict[str, Any] | None:
    """The board in ``out_dir``, or ``None`` if there is none yet."""
    path = Path(out_dir) / "leaderboard.json"
    if not path.is_file():
        return None
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); move it away to start over") from None
    if board.get("schema") == "textgym-leaderboard/1":
        # A board from before tiers: its envs lack the tier columns, and mixing would
        # leave old agents' tier cells silently empty. Its entries still merge.
        raise ValueError(
            f"{path} is a textgym-leaderboard/1 board, from before difficulty tiers; move "
            "the folder away, run the board again, and merge its old entries back (each "
            "of board['entries'] saved as a file; they land in the continuity column)"
        )
    if board.get("schema") != BOARD_SCHEMA:
        raise ValueError(f"{path}: schema {board.get('schema')!r} is not {BOARD_SCHEMA!r}")
    return board


def _new_board(env_ids: Iterable[str], episodes: int | None, seed: int, infos: EnvInfos):
    return {
        "schema": BOARD_SCHEMA,
        "episodes": episodes,
        "seed": seed,
        "env_kwargs": jsonable_kwargs(infos.env_kwargs),
        "tiers": infos.tiers,
        "provenance": provenance(seed=seed),
        "envs": [
            {
                k: infos(env_id)[k]
                for k in ("env", "env_version", "split_hash", "test_size", "metric", "tiers")
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
    if board["tiers"] != infos.tiers:
        raise ValueError(
            f"{out_dir} was made with tiers={board['tiers']}; use another --out to "
            f"{'score' if infos.tiers else 'skip'} difficulty tiers"
        )
    for env in board["envs"]:
        current = infos(env["env"])
        made = [(t["tier"], t["split_hash"]) for t in env["tiers"]]
        if env["split_hash"] != current["split_hash"] or made != [
            (t["tier"], t["split_hash"]) for t in current["tiers"]
        ]:
            raise ValueError(
                f"{out_dir}: the test split or tiers of {env['env']} changed since the "
                "board was made (another textgym version?); start a new board in another "
                "--out and merge its entries there"
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
        full = all(
            cell["episodes"] == infos.tier(cell["env"], cell.get("tier"))["test_size"]
            for cell in cells
        )
        return (None if full else cells[0]["episodes"]), cells[0]["seed"]
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
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
    tiers: bool = True,
) -> tuple[dict[str, Any], list[str]]:
    """Validate each entry file and merge it into the board in ``out_dir``.

    Without a board there, a new one is made for the envs the entries cover, with the
    first entry's episode count and seed (and ``env_kwargs``, what the entries were
    evaluated with, and ``tiers``: whether it scores difficulty tiers). Every entry is
    checked before any is merged, so one bad file merges nothing. An entry from before
    tiers (``textgym-leaderboard-entry/1``) merges into the continuity column when its
    splits still hash the same. Returns the board and the merged agent names. Raises
    :class:`InvalidEntry` with the reason.
    """
    if not paths:
        raise ValueError("give at least one entry file")
    board = load_board(out_dir)
    if board is not None and env_kwargs is not None:
        # A board records its env kwargs; merging under others would mix test splits.
        made_with = board.get("env_kwargs") or {}
        if made_with != jsonable_kwargs(env_kwargs):
            raise ValueError(f"{out_dir} was made with env kwargs {made_with}, not {env_kwargs}")
    if board is None:
        infos = EnvInfos(env_kwargs, tiers=tiers)
    else:
        infos = EnvInfos(board.get("env_kwargs"), tiers=board["tiers"])
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
