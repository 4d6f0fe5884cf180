"""Checking a leaderboard entry before it joins a board.

Three layers, each with its own message:

1. the JSON Schema in ``entry.schema.json`` (shape and types; a ``/1`` entry, from before
   tiers, is checked against ``entry-1.schema.json``);
2. the envs: each cell must name an env this textgym registers, at the same version, with
   the same test-split hash (a changed split, task seed or test size changes the hash) as
   its column: the tier it names, or the env's default config (continuity) if none.

Old entries: a ``/1`` entry has no tiers, so its cells are continuity cells. It is
accepted when their splits still hash the same (the default configs did not change when
tiers came), and lands in the continuity column; on a changed split it is rejected like
any other entry, with the reason.
3. the numbers: each cell's metrics must equal what its per-episode lists give, and the
   lists must be as long as the episode count.

A cell cannot prove its episodes were played honestly; re-running the agent does. What the
checks do catch is an entry made on another split or env version, and numbers edited after
the run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from textgym.leaderboard.records import (
    ENTRY_SCHEMA,
    ENTRY_SCHEMAS,
    PER_EPISODE,
    metrics_from_episodes,
)
from textgym.leaderboard.tiers import EnvInfos, column_label

__all__ = ["InvalidEntry", "load_entry", "validate_entry", "entry_schema"]


class InvalidEntry(ValueError):
    """An entry that may not join the board; the message says why."""


@cache
def entry_schema(version: str = ENTRY_SCHEMA) -> dict[str, Any]:
    """The JSON Schema of an entry format (shipped as
    ``textgym/leaderboard/entry.schema.json``, the current one, and
    ``entry-N.schema.json`` for older ones)."""
    if version not in ENTRY_SCHEMAS:
        raise ValueError(f"unknown entry schema {version!r}; known: {ENTRY_SCHEMAS}")
    number = version.rsplit("/", 1)[1]
    name = "entry.schema.json" if version == ENTRY_SCHEMA else f"entry-{number}.schema.json"
    return json.loads(resources.files("textgym.leaderboard").joinpath(name).read_text())


def _schema_errors(entry: Any, version: str) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(entry_schema(version))
    errors = sorted(validator.iter_errors(entry), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '(top level)'}: {err.message}"
        for err in errors
    ]


def validate_entry(
    entry: Any,
    *,
    episodes: int | None = None,
    env_infos: Callable[[str], Mapping[str, Any]] | None = None,
    source: str = "entry",
) -> dict[str, Any]:
    """Return ``entry`` if it may join a board; raise :class:`InvalidEntry` otherwise.

    Args:
        episodes: the board's episode count; cells must match it (default: each env's
            whole test split).
        env_infos: env id -> its info with its ``"tiers"``, as
            :class:`~textgym.leaderboard.EnvInfos` gives (default: a fresh one without
            env kwargs; pass one so a board run computes each split hash once).
        source: how messages name the entry (a file name).
    """
    version = entry.get("schema") if isinstance(entry, Mapping) else None
    if version is not None and version not in ENTRY_SCHEMAS:
        raise InvalidEntry(
            f"{source}: schema {version!r} is not one of {list(ENTRY_SCHEMAS)}; "
            "this textgym cannot read it"
        )
    problems = _schema_errors(entry, version or ENTRY_SCHEMA)
    if problems:
        raise InvalidEntry(
            f"{source} does not match the entry schema {version or ENTRY_SCHEMA}: "
            + "; ".join(problems)
        )
    env_infos = env_infos or EnvInfos()
    seen: set[tuple[str, str | None]] = set()
    for cell in entry["results"]:
        env_id, tier = cell["env"], cell.get("tier")
        where = f"{source}: {env_id}" + ("" if tier is None else f" tier {tier}")
        if (env_id, tier) in seen:
            raise InvalidEntry(f"{where} appears twice")
        seen.add((env_id, tier))
        try:
            info = _column(env_infos(env_id), tier)
        except ValueError as exc:
            raise InvalidEntry(f"{source}: {exc}") from None
        if info is None:
            raise InvalidEntry(f"{where}: {env_id} has no tier {tier!r} here")
        if cell["env_version"] != info["env_version"]:
            raise InvalidEntry(
                f"{where}: env version {cell['env_version']} does not match the registered "
                f"version {info['env_version']}"
            )
        if cell["split_hash"] != info["split_hash"]:
            raise InvalidEntry(
                f"{where}: test-split hash {cell['split_hash'][:12]}... does not match this "
                f"textgym's {info['split_hash'][:12]}... for the {column_label(tier)} column; "
                "the entry was evaluated on a different test split (another task seed, "
                "level, test size or generator version)"
            )
        expected = info["test_size"] if episodes is None else episodes
        if cell["episodes"] != expected:
            raise InvalidEntry(
                f"{where}: {cell['episodes']} episodes; the board ranks on {expected}"
            )
        if cell["metric"] != info["metric"]:
            raise InvalidEntry(
                f"{where}: headline metric {cell['metric']!r} should be {info['metric']!r}"
            )
        lengths = {key: len(cell["per_episode"][key]) for key in PER_EPISODE}
        if set(lengths.values()) != {cell["episodes"]}:
            raise InvalidEntry(
                f"{where}: per-episode lists {lengths} do not all hold {cell['episodes']} episodes"
            )
        recomputed = metrics_from_episodes(cell["per_episode"])
        for name, value in recomputed.items():
            if not math.isclose(cell["metrics"][name], value, rel_tol=1e-9, abs_tol=1e-12):
                raise InvalidEntry(
                    f"{where}: {name} is {cell['metrics'][name]!r} but its episodes give "
                    f"{value!r}; the numbers were changed after the run"
                )
    return dict(entry)


def _column(info: Mapping[str, Any], tier: str | None) -> Mapping[str, Any] | None:
    """The info a cell is checked against: the env's (continuity) or its tier's, with
    the env's id and version; ``None`` for a tier the env does not have here."""
    if tier is None:
        return info
    for candidate in info.get("tiers") or ():
        if candidate["tier"] == tier:
            return {**info, **candidate}
    return None


def load_entry(path: str | Path, **kwargs: Any) -> dict[str, Any]:
    """Read and validate an entry file (see :func:`validate_entry`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no entry file at {str(path)!r}")
    try:
        entry = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEntry(f"{path.name} is not JSON: {exc}") from None
    return validate_entry(entry, source=path.name, **kwargs)
