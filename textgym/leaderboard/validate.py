"""Checking a leaderboard entry before it joins a board.

Three layers, each with its own message:

1. the JSON Schema in ``entry.schema.json`` (shape and types);
2. the envs: each cell must name an env this textgym registers, at the same version, with
   the same test-split hash (a changed split, task seed or test size changes the hash);
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

from textgym.leaderboard.records import ENTRY_SCHEMA, PER_EPISODE, env_info, metrics_from_episodes

__all__ = ["InvalidEntry", "load_entry", "validate_entry", "entry_schema"]


class InvalidEntry(ValueError):
    """An entry that may not join the board; the message says why."""


@cache
def entry_schema() -> dict[str, Any]:
    """The JSON Schema of an entry (shipped as ``textgym/leaderboard/entry.schema.json``)."""
    text = resources.files("textgym.leaderboard").joinpath("entry.schema.json").read_text()
    return json.loads(text)


def _schema_errors(entry: Any) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft202012Validator(entry_schema())
    errors = sorted(validator.iter_errors(entry), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in err.absolute_path) or '(top level)'}: {err.message}"
        for err in errors
    ]


def validate_entry(
    entry: Any,
    *,
    episodes: int | None = None,
    env_infos: Callable[[str], Mapping[str, Any]] = env_info,
    source: str = "entry",
) -> dict[str, Any]:
    """Return ``entry`` if it may join a board; raise :class:`InvalidEntry` otherwise.

    Args:
        episodes: the board's episode count; cells must match it (default: each env's
            whole test split).
        env_infos: env id -> :func:`~textgym.leaderboard.records.env_info` (injectable so
            one board run computes each split hash once).
        source: how messages name the entry (a file name).
    """
    if isinstance(entry, Mapping) and entry.get("schema") not in (None, ENTRY_SCHEMA):
        raise InvalidEntry(
            f"{source}: schema {entry.get('schema')!r} is not {ENTRY_SCHEMA!r}; "
            "this textgym cannot read it"
        )
    problems = _schema_errors(entry)
    if problems:
        raise InvalidEntry(f"{source} does not match the entry schema: " + "; ".join(problems))
    seen: set[str] = set()
    for cell in entry["results"]:
        env_id = cell["env"]
        where = f"{source}: {env_id}"
        if env_id in seen:
            raise InvalidEntry(f"{where} appears twice")
        seen.add(env_id)
        try:
            info = env_infos(env_id)
        except ValueError as exc:
            raise InvalidEntry(f"{source}: {exc}") from None
        if cell["env_version"] != info["env_version"]:
            raise InvalidEntry(
                f"{where}: env version {cell['env_version']} does not match the registered "
                f"version {info['env_version']}"
            )
        if cell["split_hash"] != info["split_hash"]:
            raise InvalidEntry(
                f"{where}: test-split hash {cell['split_hash'][:12]}... does not match this "
                f"textgym's {info['split_hash'][:12]}...; the entry was evaluated on a "
                "different test split (another task seed, test size or generator version)"
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
