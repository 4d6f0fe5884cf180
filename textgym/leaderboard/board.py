"""Running the leaderboard: evaluate agent specs on every env's test split, resumably, and
merge submitted entries.

A board lives in one folder::

    leaderboard.json   the record: envs (version, split hash, headline metric), entries
    leaderboard.md     tables made from the JSON
    leaderboard.png    the headline metric per env and agent
    cells/AGENT/ENV.json   one finished evaluation each, with the key it was made under

A cell whose key (spec, model fingerprint, episodes, seed, split hash, textgym version)
matches is reused, so an interrupted run picks up where it stopped and a rerun with one
more agent evaluates only that agent.
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

__all__ = ["evaluate_agent", "run_board", "merge_entries", "load_board"]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "agent"


def _check_episodes(episodes: int | None) -> None:
    if episodes is not None and (not isinstance(episodes, int) or episodes < 1):
        raise ValueError(f"episodes must be a positive int or None, got {episodes!r}")


class _EnvInfos:
    """env id -> env_info, computed once per run (a split hash builds the whole split)."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, Any]] = {}

    def __call__(self, env_id: str) -> dict[str, Any]:
        if env_id not in self._cache:
            self._cache[env_id] = env_info(env_id)
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
    env_infos: _EnvInfos | None = None,
) -> dict[str, Any]:
    """Evaluate one agent spec on each env's test split and return its entry (the
    submission format).

    Args:
        spec: ``random``, ``oracle``, ``ppo:PATH``, ``hf:PATH`` or ``module:callable``.
        env_ids: default every registered textgym env.
        episodes: items per env; default each env's whole test split (what the board
            ranks on; fewer is for smoke runs and is rejected by a full board).
        cells_dir: where finished cells are kept for resuming; ``None`` keeps nothing.
    """
    from textgym.specs import make_agent

    _check_episodes(episodes)
    env_ids = list(env_ids or registered_env_ids())
    infos = env_infos or _EnvInfos()
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
            env = gym.make(env_id)
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


def _new_board(env_ids: Iterable[str], episodes: int | None, seed: int, infos: _EnvInfos):
    return {
        "schema": BOARD_SCHEMA,
        "episodes": episodes,
        "seed": seed,
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
) -> dict[str, Any]:
    """Evaluate ``agents`` (specs) on every env and write the board into ``out_dir``.

    Entries already on the board (merged submissions, earlier agents) stay; an agent with
    the same name is replaced. Finished cells under ``out_dir/cells`` are reused.
    """
    _check_episodes(episodes)
    if not agents:
        raise ValueError("give at least one agent spec")
    if names is not None and len(names) != len(agents):
        raise ValueError(f"{len(names)} names for {len(agents)} agents")
    infos = _EnvInfos()
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
        )
        _put(board, entry)
        _restamp(board)
        write_board(board, out_dir, chart=chart)
    return board


def merge_entries(
    paths: Sequence[str | Path], out_dir: str | Path, *, chart: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Validate each entry file and merge it into the board in ``out_dir``.

    Every entry is checked before any is merged, so one bad file merges nothing. Returns the
    board and the merged agent names. Raises :class:`InvalidEntry` with the reason.
    """
    board = load_board(out_dir)
    if board is None:
        raise FileNotFoundError(
            f"no leaderboard.json in {str(out_dir)!r}; make one with `textgym leaderboard run`"
        )
    infos = _EnvInfos()
    entries = [load_entry(p, episodes=board["episodes"], env_infos=infos) for p in paths]
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
