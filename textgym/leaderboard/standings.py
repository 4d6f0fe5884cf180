"""The board's standings: each cell's intervals and each agent's score, interval and rank.

They are derived from the entries' per-episode lists alone (see
:mod:`textgym.leaderboard.stats`), recomputed on every write and stored in
``leaderboard.json`` under ``"standings"`` so the report and any other reader print the same
numbers without redoing the bootstrap. An entry never carries them: they would be one more
thing to tamper with, and nothing a submitter could get wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textgym.leaderboard.stats import (
    BOOTSTRAP_SEED,
    LEVEL,
    RESAMPLES,
    bootstrap_score,
    cell_intervals,
    shared_ranks,
)
from textgym.leaderboard.tiers import columns

__all__ = ["MISSING_SCORE", "METHOD", "compute_standings", "cell_of", "PER_EPISODE_OF"]

#: What a missing continuity cell counts as in the overall score: the worst, as before.
MISSING_SCORE = -1.0

#: The per-episode list each headline metric is the mean of.
PER_EPISODE_OF = {"success_rate": "success", "mean_reward": "reward"}

#: How the intervals and ranks are made (stored with them, and printed in the legend).
METHOD = {
    "level": LEVEL,
    "success_rate": "Wilson score interval",
    "mean_reward": (
        f"percentile bootstrap, {RESAMPLES} resamples of the episodes, "
        f"random.Random({BOOTSTRAP_SEED})"
    ),
    "score": (
        "mean over the board's envs of each env's headline metric on its default config "
        f"(the continuity columns; a missing cell counts {MISSING_SCORE}); interval by the "
        f"same bootstrap, each env's episodes resampled on their own"
    ),
    "rank": (
        "agents by score; an agent shares the rank of its group's leader (the best agent "
        "of the group) when its score equals the leader's or their score intervals "
        "overlap; otherwise it starts a group ranked 1 + the agents above it (1, 1, 3)"
    ),
}


def cell_of(entry: Mapping[str, Any], env_id: str, tier: str | None):
    """The entry's cell for ``env_id``'s column ``tier`` (``None``: continuity), or None."""
    for cell in entry["results"]:
        if cell["env"] == env_id and cell.get("tier") == tier:
            return cell
    return None


def _score(entry: Mapping[str, Any], envs) -> tuple[float, list[Any]]:
    parts: list[Any] = []
    for env in envs:
        cell = cell_of(entry, env["env"], None)
        if cell is None:
            parts.append(MISSING_SCORE)
        else:
            parts.append([float(v) for v in cell["per_episode"][PER_EPISODE_OF[env["metric"]]]])
    values = [p if isinstance(p, float) else sum(p) / len(p) for p in parts]
    return sum(values) / max(1, len(values)), parts


def compute_standings(board: Mapping[str, Any]) -> dict[str, Any]:
    """``{"method", "ranking", "cells"}``: ``ranking`` best first, one row per agent
    (``agent``, ``rank``, ``score``, ``interval``); ``cells`` one row per (agent, env,
    tier) present (``tier`` None: continuity), with the headline ``value`` and its
    ``interval`` and both metrics' ``intervals``."""
    envs = board["envs"]
    scored = []
    for entry in board["entries"]:
        score, parts = _score(entry, envs)
        interval = bootstrap_score(parts) if envs else (score, score)
        scored.append((entry["agent"]["name"], score, tuple(interval)))
    ranks = shared_ranks(scored)
    ranking = [
        {"agent": name, "rank": ranks[name], "score": score, "interval": list(interval)}
        for name, score, interval in sorted(scored, key=lambda s: (ranks[s[0]], -s[1], s[0]))
    ]
    order = [row["agent"] for row in ranking]
    by_name = {e["agent"]["name"]: e for e in board["entries"]}
    cells = []
    for name in order:
        for env in envs:
            for tier, column in columns(env):
                cell = cell_of(by_name[name], env["env"], tier)
                if cell is None:
                    continue
                intervals = cell_intervals(cell["per_episode"])
                metric = column["metric"]
                cells.append(
                    {
                        "agent": name,
                        "env": env["env"],
                        "tier": tier,
                        "metric": metric,
                        "value": cell["metrics"][metric],
                        "interval": intervals[metric],
                        "intervals": intervals,
                    }
                )
    return {"method": dict(METHOD), "ranking": ranking, "cells": cells}


#: Spec prefixes of agents whose model was trained (or fine-tuned): the entries that show
#: whether the board separates agents, between the random floor and the oracle.
TRAINED = ("ppo:", "hf:", "openai:")


def headroom(board: Mapping[str, Any], standings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per env column: the random agent's, the oracle's and the best trained entry's
    value, and where that entry sits: ``"between"`` (strictly between random and the
    oracle: the board separates agents there and has room above), ``"above oracle"``
    (the oracle is no ceiling), ``"at or below random"``, or ``"no trained entry"``."""
    spec_of = {e["agent"]["name"]: str(e["agent"].get("spec", "")) for e in board["entries"]}
    rows = []
    for env in board["envs"]:
        for tier, _ in columns(env):
            here = [c for c in standings["cells"] if c["env"] == env["env"] and c["tier"] == tier]
            by_spec = {spec_of.get(c["agent"]): c["value"] for c in here}
            trained = [c for c in here if spec_of.get(c["agent"], "").startswith(TRAINED)]
            best = max(trained, key=lambda c: c["value"], default=None)
            floor, ceiling = by_spec.get("random"), by_spec.get("oracle")
            if best is None:
                verdict = "no trained entry"
            elif ceiling is not None and best["value"] >= ceiling:
                verdict = "above oracle" if best["value"] > ceiling else "at oracle"
            elif floor is not None and best["value"] <= floor:
                verdict = "at or below random"
            else:
                verdict = "between"
            rows.append(
                {
                    "env": env["env"],
                    "tier": tier,
                    "random": floor,
                    "oracle": ceiling,
                    "best_trained": None if best is None else best["agent"],
                    "value": None if best is None else best["value"],
                    "verdict": verdict,
                }
            )
    return rows
