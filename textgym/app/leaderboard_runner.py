"""Running the leaderboard: agent specs evaluated on every env's test split into cells,
resumably, and the board written (the board itself, its merge and its report are in
:mod:`textgym.leaderboard`, which knows nothing of agents).

Each env is evaluated on its default config (the continuity column) and on each of its
difficulty tiers (:mod:`textgym.leaderboard.tiers`). A cell whose key (spec, model
fingerprint, episodes, seed, split hash, tier, env kwargs, textgym version) matches a
finished one under ``cells/`` is reused, so an interrupted run picks up where it stopped
and a rerun with one more agent evaluates only that agent.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import textgym
from textgym.agents.model_paths import resolve_model_dir, resolve_tokenizer_dir
from textgym.app import specs
from textgym.fileio import atomic_write_text
from textgym.leaderboard.board import (
    board_for,
    check_episodes,
    jsonable_kwargs,
    make_env,
    put_entry,
    restamp,
    slug,
)
from textgym.leaderboard.records import ENTRY_SCHEMA, cell_from_result, provenance
from textgym.leaderboard.report import write_board
from textgym.leaderboard.tiers import EnvInfos, columns
from textgym.registration import env_ids as registered_env_ids
from textgym.rollout import evaluate

__all__ = ["agent_fingerprint", "evaluate_agent", "run_board", "training_record"]

#: run.json keys that say how a policy was trained (the rest are machine details).
TRAINING_KEYS = ("kind", "env", "env_kwargs", "init", "arch", "lora_rank", "reward_model", "config")


def training_record(spec: str, command: str | None = None) -> dict[str, Any] | None:
    """How a ``ppo:``/``hf:`` model was trained: ``command`` (the command line that
    reproduces it, as its trainer gave it) and the settings its ``textgym train`` run
    folder recorded in ``run.json`` (the run the model's ``policy/`` belongs to). None
    when neither is known."""
    kind, _, path = spec.partition(":")
    run: dict[str, Any] | None = None
    if kind in ("ppo", "hf") and Path(path).is_dir():
        try:
            model = resolve_model_dir(path)
        except (FileNotFoundError, ValueError):
            model = None
        run_file = None if model is None else model.parent / "run.json"
        if run_file is not None and run_file.is_file():
            recorded = json.loads(run_file.read_text())
            run = {k: recorded[k] for k in TRAINING_KEYS if k in recorded}
    if run is None and command is None:
        return None
    return {"command": command, "run": run}


def agent_fingerprint(spec: str) -> str | None:
    """SHA-256 over the files of a ``ppo:``/``hf:`` model folder, so a retrained model at
    the same path is not mistaken for the one a finished cell evaluated; ``None`` for
    other specs."""
    kind, _, path = spec.partition(":")
    if kind not in ("ppo", "hf") or not Path(path).is_dir():
        return None
    # The folders make_agent loads (one rule for every consumer), not the whole run.
    folders = {resolve_model_dir(path)}
    if kind == "hf":
        folders.add(resolve_tokenizer_dir(path))
    digest = hashlib.sha256()
    for folder in sorted(folders):
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(folder)).encode())
            with open(file, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()


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
    base_url: str | None = None,
    tiers: bool = False,
    command: str | None = None,
    trained_by: str | None = None,
) -> dict[str, Any]:
    """Evaluate one agent spec on each env's test split (and each of its difficulty
    tiers' with ``tiers=True``, as ``textgym leaderboard submit`` does) and return its
    entry (the submission format).

    Args:
        spec: ``random``, ``oracle``, ``ppo:PATH``, ``hf:PATH``, ``openai:MODEL`` or
            ``module:callable``.
        env_ids: default every registered textgym env.
        episodes: items per env; default each env's whole test split (what the board
            ranks on; fewer is for smoke runs and is rejected by a full board).
        cells_dir: where finished cells are kept for resuming; ``None`` keeps nothing.
        env_kwargs: passed to ``gym.make`` for every env (e.g. ``{"level": 1}``); task
            settings among them change the recorded split hash.
        base_url: the endpoint of an ``openai:`` spec (default ``OPENAI_BASE_URL``);
            part of its cells' key, since one model name at two endpoints may be two
            models.
        tiers: also evaluate each env's difficulty tiers (a tier setting a kwarg that
            ``env_kwargs`` pins is left out); with ``env_infos``, theirs decides. Off by
            default so library callers keep one cell per env, as before tiers; an entry
            without tier cells still merges (its tiers show ``-``).
        command: the command line that makes this entry, kept in its provenance.
        trained_by: the command line that trains the agent's model; kept, with the
            model's recorded training settings (:func:`training_record`), in
            ``provenance.training``.
    """
    check_episodes(episodes)
    env_ids = list(env_ids or registered_env_ids())
    env_kwargs = dict(env_kwargs or {})
    infos = env_infos or EnvInfos(env_kwargs, tiers=tiers)
    if infos.env_kwargs != env_kwargs:
        raise ValueError(f"env_infos were made for env kwargs {infos.env_kwargs}, not {env_kwargs}")
    fingerprint = agent_fingerprint(spec)
    name = name or spec
    cells: dict[tuple[str, str | None], dict[str, Any]] = {}
    pending: list[tuple[str, str | None, dict[str, Any], Path | None]] = []
    order: list[tuple[str, str | None]] = []
    for env_id in env_ids:
        for tier, column in columns(infos(env_id)):
            order.append((env_id, tier))
            key = _cell_key(spec, fingerprint, episodes, seed, column, tier, env_kwargs)
            if spec.startswith("openai:"):
                # None: the openai client's default, OpenAI's own API.
                key["base_url"] = base_url or os.environ.get("OPENAI_BASE_URL")
            file = f"{env_id}.json" if tier is None else f"{env_id}@{slug(tier)}.json"
            path = None if cells_dir is None else Path(cells_dir) / slug(name) / file
            saved = _saved_cell(path)
            if saved.get("key") == key:
                cells[env_id, tier] = saved["cell"]
                continue
            pending.append((env_id, tier, key, path))
    total = sum(key["episodes"] for _, _, key, _ in pending)
    with tqdm(total=total, desc=name, unit="ep", disable=not progress or not total) as bar:
        for env_id, tier, key, path in pending:
            bar.set_postfix_str(env_id if tier is None else f"{env_id} {tier}", refresh=True)
            column = infos.tier(env_id, tier)
            env = make_env(env_id, {**env_kwargs, **column.get("kwargs", {})})
            try:
                agent = specs.make_agent(spec, env, seed=seed, base_url=base_url)
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
            info = {**infos(env_id), **(column if tier is not None else {})}
            cell = cell_from_result(result, info, seed=seed, seconds=seconds)
            if path is not None:
                atomic_write_text(path, json.dumps({"key": key, "cell": cell}))
            cells[env_id, tier] = cell
    agent = {"name": name, "spec": spec, "fingerprint": fingerprint}
    if description:
        agent["description"] = description
    made = provenance(seed=seed)
    if command:
        made["command"] = command
    training = training_record(spec, trained_by)
    if training is not None:
        made["training"] = training
    return {
        "schema": ENTRY_SCHEMA,
        "agent": agent,
        "provenance": made,
        "results": [cells[column] for column in order],
    }


def _cell_key(spec, fingerprint, episodes, seed, column, tier, env_kwargs) -> dict[str, Any]:
    """What a finished cell was made under; a saved cell is reused only on an equal key."""
    key = {
        "spec": spec,
        "fingerprint": fingerprint,
        "episodes": column["test_size"] if episodes is None else episodes,
        "seed": seed,
        "split_hash": column["split_hash"],
        "textgym_version": textgym.__version__,
    }
    made_with = {**env_kwargs, **(column.get("kwargs") or {})}
    if made_with:
        # Explicit as well as through the split hash: kwargs outside the task config
        # (turn limits, reward shaping) change results but not the split. Left out when
        # empty so cells finished before env kwargs existed are still reused.
        key["env_kwargs"] = jsonable_kwargs(made_with)
    if tier is not None:
        key["tier"] = tier
    return key


def _saved_cell(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}  # a torn file from before atomic writes: recompute


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
    base_url: str | None = None,
    tiers: bool = True,
) -> dict[str, Any]:
    """Evaluate ``agents`` (specs) on every env (and its difficulty tiers, unless
    ``tiers`` is False) and write the board into ``out_dir``.

    Entries already on the board (merged submissions, earlier agents) stay; an agent with
    the same name is replaced. Finished cells under ``out_dir/cells`` are reused.
    ``env_kwargs`` go to ``gym.make`` for every env and are recorded on the board; a
    folder holds one board, so other kwargs need another ``out_dir``. ``base_url`` is the
    endpoint of ``openai:`` specs.
    """
    check_episodes(episodes)
    if not agents:
        raise ValueError("give at least one agent spec")
    if names is not None and len(names) != len(agents):
        raise ValueError(f"{len(names)} names for {len(agents)} agents")
    infos = EnvInfos(env_kwargs, tiers=tiers)
    env_ids = list(env_ids) if env_ids else None
    board = board_for(out_dir, env_ids or registered_env_ids(), episodes, seed, infos)
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
            base_url=base_url,
        )
        put_entry(board, entry)
        restamp(board)
        write_board(board, out_dir, chart=chart)
    return board
