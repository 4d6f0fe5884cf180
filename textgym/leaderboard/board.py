"""Running the leaderboard: evaluate agent specs on every env's test split, resumably, and
merge submitted entries.

A board lives in one folder::

    leaderboard.json   the record: envs (version, split hash, headline metric), entries
    leaderboard.md     tables made from the JSON
    leaderboard.png    the headline metric per env and agent
    cells/AGENT/ENV.json   one finished evaluation each, with the key it was made under

A cell whose key (spec, model fingerprint, episodes, seed, split hash, env kwargs, textgym
version) matches is reused, so an interrupted run picks up where it stopped and a rerun
with one more agent evaluates only that agent.

``merge`` into a folder without a board starts one for the envs the entries cover.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

import textgym
from textgym.fileio import atomic_write_text
from textgym.leaderboard.records import (
    BOARD_SCHEMA,
    ENTRY_SCHEMA,
    agent_fingerprint,
    cell_from_result,
    env_info,
    provenance,
)
from textgym.leaderboard.report import write_board
from textgym.leaderboard.validate import InvalidEntry, load_entry
from textgym.registration import env_ids as registered_env_ids
from textgym.rollout import evaluate

__all__ = ["EnvInfos", "evaluate_agent", "run_board", "merge_entries", "load_board"]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "agent"


def _check_episodes(episodes: int | None) -> None:
    if episodes is not None and (not isinstance(episodes, int) or episodes < 1):
        raise ValueError(f"episodes must be a positive int or None, got {episodes!r}")


def _jsonable_kwargs(env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` as they read back from JSON (tuples become lists), so a saved cell
    key compares equal to a fresh one; the board and the cell files record them."""
    try:
        return json.loads(json.dumps(dict(env_kwargs or {}), sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"env_kwargs must be JSON values, got {env_kwargs!r} ({exc})") from None


def _make(env_id: str, env_kwargs: Mapping[str, Any] | None) -> gym.Env:
    return gym.make(env_id, **dict(env_kwargs or {}))


def _env_info(env_id: str, env_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """:func:`env_info` of the env as ``gym.make(env_id, **env_kwargs)`` builds it: kwargs
    that configure the task (a level, a task seed) give another test split and hash."""
    info = env_info(env_id)  # the registration check and the registered version
    if not env_kwargs:
        return info
    env = _make(env_id, env_kwargs)
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


def evaluate_agent(
    spec: str,
    env_ids: Sequence[str] | None = None,
    *,
    name: str | None = None,
    episodes: int | None = None,
    seed: int = 0,
    cells_dir: str | Path | None = None,
    progress: bool = True,
    description: str | None = None,
    env_infos: EnvInfos | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate one agent spec on each env's test split and return its entry (the
    submission format).

    Args:
        spec: ``random``, ``oracle``, ``ppo:PATH``, ``hf:PATH`` or ``module:callable``.
        env_ids: default every registered textgym env.
        episodes: items per env; default each env's whole test split (what the board
            ranks on; fewer is for smoke runs and is rejected by a full board).
        cells_dir: where finished cells are kept for resuming; ``None`` keeps nothing.
        env_kwargs: passed to ``gym.make`` for every env (e.g. ``{"level": 1}``); task
            settings among them change the recorded split hash.
    """
    from textgym.specs import make_agent

    _check_episodes(episodes)
    env_ids = list(env_ids or registered_env_ids())
    env_kwargs = dict(env_kwargs or {})
    infos = env_infos or EnvInfos(env_kwargs)
    if infos.env_kwargs != env_kwargs:
        raise ValueError(f"env_infos were made for env kwargs {infos.env_kwargs}, not {env_kwargs}")
    fingerprint = agent_fingerprint(spec)
    name = name or spec
    cells: dict[str, dict[str, Any]] = {}
    pending: list[tuple[str, dict[str, Any], Path | None]] = []
    for env_id in env_ids:
        info = infos(env_id)
        n = info["test_size"] if episodes is None else episodes
        key = {
            "spec": spec,
            "fingerprint": fingerprint,
            "episodes": n,
            "seed": seed,
            "split_hash": info["split_hash"],
            "textgym_version": textgym.__version__,
        }
        if env_kwargs:
            # Explicit as well as through the split hash: kwargs outside the task config
            # (turn limits, reward shaping) change results but not the split. Left out when
            # empty so cells finished before env kwargs existed are still reused.
            key["env_kwargs"] = _jsonable_kwargs(env_kwargs)
        path = None if cells_dir is None else Path(cells_dir) / _slug(name) / f"{env_id}.json"
        if path is not None and path.is_file():
            try:
                saved = json.loads(path.read_text())
            except json.JSONDecodeError:
                saved = {}  # a torn file from before atomic writes: recompute
            if saved.get("key") == key:
                cells[env_id] = saved["cell"]
                continue
        pending.append((env_id, key, path))
    total = sum(key["episodes"] for _, key, _ in pending)
    with tqdm(total=total, desc=name, unit="ep", disable=not progress or not total) as bar:
        for env_id, key, path in pending:
            bar.set_postfix_str(env_id, refresh=True)
            env = _make(env_id, env_kwargs)
            try:
                agent = make_agent(spec, env, seed=seed)
                start = time.perf_counter()
                result = evaluate(
                    env,
                    agent,
                    episodes=key["episodes"],
                    seed=seed,
                    progress=False,
                    env_id=env_id,
                    on_episode=lambda _episode: bar.update(1),
                )
                seconds = time.perf_counter() - start
            finally:
                env.close()
            cell = cell_from_result(result, infos(env_id), seed=seed, seconds=seconds)
            if path is not None:
                atomic_write_text(path, json.dumps({"key": key, "cell": cell}))
            cells[env_id] = cell
    agent = {"name": name, "spec": spec, "fingerprint": fingerprint}
    if description:
        agent["description"] = description
    return {
        "schema": ENTRY_SCHEMA,
        "agent": agent,
        "provenance": provenance(seed=seed),
        "results": [cells[env_id] for env_id in env_ids],
    }


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
        "env_kwargs": _jsonable_kwargs(infos.env_kwargs),
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


def _board_for(out_dir, env_ids, episodes, seed, infos) -> dict[str, Any]:
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
    if made_with != _jsonable_kwargs(infos.env_kwargs):
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


def _put(board: dict[str, Any], entry: Mapping[str, Any]) -> None:
    """Add ``entry``, replacing one with the same agent name."""
    name = entry["agent"]["name"]
    board["entries"] = [e for e in board["entries"] if e["agent"]["name"] != name]
    board["entries"].append(dict(entry))


def _restamp(board: dict[str, Any]) -> None:
    board["provenance"] = provenance(seed=board["seed"])


def run_board(
    agents: Sequence[str],
    out_dir: str | Path,
    *,
    env_ids: Sequence[str] | None = None,
    episodes: int | None = None,
    seed: int = 0,
    names: Sequence[str] | None = None,
    progress: bool = True,
    chart: bool = True,
    env_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``agents`` (specs) on every env and write the board into ``out_dir``.

    Entries already on the board (merged submissions, earlier agents) stay; an agent with
    the same name is replaced. Finished cells under ``out_dir/cells`` are reused.
    ``env_kwargs`` go to ``gym.make`` for every env and are recorded on the board; a
    folder holds one board, so other kwargs need another ``out_dir``.
    """
    _check_episodes(episodes)
    if not agents:
        raise ValueError("give at least one agent spec")
    if names is not None and len(names) != len(agents):
        raise ValueError(f"{len(names)} names for {len(agents)} agents")
    infos = EnvInfos(env_kwargs)
    env_ids = list(env_ids) if env_ids else None
    board = _board_for(out_dir, env_ids or registered_env_ids(), episodes, seed, infos)
    ids = [e["env"] for e in board["envs"]]
    for k, spec in enumerate(agents):
        entry = evaluate_agent(
            spec,
            ids,
            name=None if names is None else names[k],
            episodes=episodes,
            seed=seed,
            cells_dir=Path(out_dir) / "cells",
            progress=progress,
            env_infos=infos,
            env_kwargs=infos.env_kwargs,
        )
        _put(board, entry)
        _restamp(board)
        write_board(board, out_dir, chart=chart)
    return board


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
        if made_with != _jsonable_kwargs(env_kwargs):
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
        _put(board, entry)
    _restamp(board)
    write_board(board, out_dir, chart=chart)
    return board, [e["agent"]["name"] for e in entries]
