"""Run folders that never lose data: the ``--out`` rules and ``--resume`` settings.

A training command writes into one folder. Three rules keep what is there safe:

- A new run never writes into a folder that holds anything: it refuses, naming the ways
  on (``--resume``, another ``--out``, or ``--overwrite``), because a silent overwrite
  once cost a user 36 iterations of ``metrics.jsonl``.
- ``--overwrite`` moves the old folder aside (``<out>.old-<UTC time>``), never deletes it.
- ``--resume`` continues under the settings the run recorded in ``run.json``. A setting
  given again with another value is refused with the difference shown, rather than
  silently ignored or silently mixed; ``total_iterations`` may grow (the run is extended).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textgym.fileio import atomic_write_text

__all__ = [
    "RUN_FILE",
    "RunFolderError",
    "prepare_run_folder",
    "read_run",
    "write_run",
    "resume_conflicts",
    "EXTENSIBLE",
    "FREE_ON_RESUME",
    "requested_settings",
    "check_resume",
]

RUN_FILE = "run.json"

#: Settings a resumed run may change because they do not change what is learned (the
#: exact speed-ups give the same numbers on or off).
FREE_ON_RESUME = frozenset(
    {
        "checkpoint_every",
        "keep_checkpoints",
        "vector_mode",
        "eval_every",
        "eval_episodes",
        "reuse_kv_cache",
        "share_prefix",
        "split_by_length",
    }
)
#: Settings a resumed run may raise: the run is extended.
EXTENSIBLE = frozenset({"total_iterations"})


class RunFolderError(ValueError):
    """The output folder cannot be used as asked; the message says what to do."""


def _aside_name(out: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    candidate = out.with_name(f"{out.name}.old-{stamp}")
    n = 2
    while candidate.exists():
        candidate = out.with_name(f"{out.name}.old-{stamp}-{n}")
        n += 1
    return candidate


def prepare_run_folder(
    out: str | os.PathLike, *, resume: bool = False, overwrite: bool = False
) -> Path | None:
    """Make ``out`` ready for a run; return where an overwritten old run was moved, if any.

    Raises :class:`RunFolderError` for a non-empty folder without ``resume`` or
    ``overwrite``, for ``resume`` without a folder, and when the folder cannot be made.
    """
    out = Path(out)
    if resume and overwrite:
        raise RunFolderError("--resume continues the run in --out and --overwrite replaces it; "
                             "choose one")
    if resume:
        if not out.is_dir():
            raise RunFolderError(
                f"--resume: there is no run folder at {out}, so no checkpoint to continue from"
            )
        return None
    moved = None
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RunFolderError(
                f"--out {out} already holds a run ({_describe(out)}). To continue it, add "
                "--resume; to keep it and start anew, pick another --out; to start anew "
                "here, add --overwrite (the old folder is moved aside, not deleted)"
            )
        moved = _aside_name(out)
        os.replace(out, moved)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(
            f"--out {out}: cannot create the folder ({exc.strerror or exc}); "
            "choose a folder you can write to"
        ) from None
    if not os.access(out, os.W_OK):
        raise RunFolderError(f"--out {out}: the folder is not writable; choose another")
    return moved


def _describe(out: Path) -> str:
    names = sorted(p.name for p in out.iterdir())
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return shown


def read_run(out: str | os.PathLike) -> dict[str, Any] | None:
    """The settings a run recorded, or ``None`` for a folder without ``run.json``."""
    path = Path(out) / RUN_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunFolderError(f"{path} is damaged ({exc}); fix or remove it") from None


def write_run(out: str | os.PathLike, run: Mapping[str, Any]) -> None:
    atomic_write_text(Path(out) / RUN_FILE, json.dumps(run, indent=2) + "\n")


def _flatten(run: Mapping[str, Any]) -> dict[str, Any]:
    """Run settings and config fields in one namespace (field names do not collide)."""
    flat = {k: v for k, v in run.items() if k != "config"}
    flat.update(run.get("config") or {})
    return flat


def resume_conflicts(
    recorded: Mapping[str, Any], requested: Mapping[str, Any], *, done_iterations: int
) -> tuple[list[str], list[str]]:
    """Compare settings given again on ``--resume`` with the run's record.

    ``requested`` holds only what the user set (flat: run settings and config fields).
    Returns ``(conflicts, notes)``: lines naming each refused difference, and lines saying
    what changes (an extension, a new checkpoint interval)."""
    have = _flatten(recorded)
    conflicts, notes = [], []
    for key, value in sorted(requested.items()):
        if key not in have:
            continue  # a setting older runs did not record: nothing to contradict
        old = have[key]
        if _same(old, value):
            continue
        if key in EXTENSIBLE:
            if value < done_iterations:
                conflicts.append(
                    f"  {key}: the run has done {done_iterations} iterations; asked for {value}"
                )
            else:
                stretch = (
                    f" (the linear LR schedule now reaches 0 at iteration {value})"
                    if have.get("lr_schedule") == "linear"
                    else ""
                )
                notes.append(f"extending the run from {old} to {value} iterations{stretch}")
        elif key in FREE_ON_RESUME:
            notes.append(f"{key}: {old!r} -> {value!r}")
        else:
            conflicts.append(f"  {key}: recorded {old!r}, given {value!r}")
    return conflicts, notes


def _same(a: Any, b: Any) -> bool:
    # JSON round trip: tuples vs lists, int vs float of the same value.
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def requested_settings(
    env_id: str,
    config: Any,
    overrides: Mapping[str, Any],
    iterations: int | None,
) -> dict[str, Any]:
    """What the caller asked for, flat, for comparing with the recorded run."""
    asked: dict[str, Any] = {"env": env_id}
    if hasattr(config, "to_dict"):  # a whole config object (PPOConfig)
        asked.update(config.to_dict())
    elif config is not None:
        asked.update(config)
    asked.update({k: v for k, v in overrides.items() if v is not None})
    if iterations is not None:
        asked["total_iterations"] = iterations
    return asked


def check_resume(
    out: Path,
    recorded: dict[str, Any],
    asked: dict[str, Any],
    done: int,
) -> dict[str, Any]:
    """Refuse settings that contradict the run; return the record, extended if asked."""
    conflicts, notes = resume_conflicts(recorded, asked, done_iterations=done)
    if conflicts:
        raise RunFolderError(
            f"--resume: {out} was started with other settings:\n"
            + "\n".join(conflicts)
            + "\nDrop these flags to continue as recorded, or start a new run with "
            "another --out (or --overwrite)."
        )
    for note in notes:
        print(f"--resume: {note}")
    updated = json.loads(json.dumps(recorded))
    for key in sorted((FREE_ON_RESUME | EXTENSIBLE) & asked.keys()):
        # Run-level settings sit at the top of run.json; the rest are PPOConfig fields.
        run_level = key in ("eval_every", "eval_episodes", "vector_mode")
        (updated if run_level else updated["config"])[key] = asked[key]
    return updated
