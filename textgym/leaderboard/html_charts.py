"""Figure specs for the leaderboard page, and the learning curves it shows.

Each figure is a plain plotly.js spec (``data`` and ``layout`` dicts) built here from the
board, so the page's JavaScript only draws it. Every trace carries ``meta.paths``: the
JSON pointer each of its ``x``/``y`` arrays was read from (into leaderboard.json, or into
the page's curves for a ``curves:`` pointer), so a check can compare what a browser drew
with the JSON, number by number.

Learning curves are not part of an entry's schema (an entry records a finished agent, not
how it was trained). The page takes them from ``curves.json`` next to leaderboard.json::

    {"schema": "textgym-leaderboard-curves/1",
     "curves": [{"agent": "ppo-demo", "label": "...", "source": "runs/demo/ppo/metrics.jsonl",
                 "points": [{"iteration": 1, "minutes": 0.02, "success_rate": 0.1}, ...]}]}

and from an entry's optional ``"curve"`` list of the same points, should entries ever
carry one. :func:`curve_from_metrics` makes the points from a training run's
``metrics.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textgym.fileio import atomic_write_text

__all__ = [
    "CURVES_SCHEMA",
    "Y_KEYS",
    "curve_from_metrics",
    "record_curve",
    "collect_curves",
    "pointer",
    "tier_figure",
    "histogram_figure",
    "curves_figure",
]

CURVES_SCHEMA = "textgym-leaderboard-curves/1"
#: What a curve point may plot, in order of preference.
Y_KEYS = ("success_rate", "mean_reward")
X_KEYS = ("iteration", "minutes")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def pointer(*parts: Any) -> str:
    """A JSON pointer (RFC 6901) to ``parts``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def curve_from_metrics(path: str | Path) -> list[dict[str, float]]:
    """Points of a PPO run's ``metrics.jsonl``: the iteration, the minutes of training up
    to its end (the sum of ``time/ppo/total``) and the rollouts' success rate and mean
    reward (sampled, during training: not a test-split score)."""
    points, seconds = [], 0.0
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        seconds += float(row.get("time/ppo/total", 0.0))
        point = {"iteration": row["iteration"], "minutes": round(seconds / 60, 4)}
        for key in Y_KEYS:
            if f"env/{key}" in row:
                point[key] = row[f"env/{key}"]
        points.append(point)
    return points


def collect_curves(
    board: Mapping[str, Any], curves_file: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """Every curve the page shows, each with ``agent``, ``label``, ``source``, ``points``
    and ``path`` (the pointer its points were read from: ``/entries/I/curve`` into the
    board, ``curves:/curves/K/points`` into curves.json)."""
    found = []
    for i, entry in enumerate(board.get("entries") or ()):
        if isinstance(entry.get("curve"), list) and entry["curve"]:
            name = entry["agent"]["name"]
            found.append(
                {"agent": name, "label": name, "source": "entry", "points": entry["curve"],
                 "path": pointer("entries", i, "curve")}
            )
    for k, curve in enumerate((curves_file or {}).get("curves") or ()):
        if curve.get("points"):
            found.append(
                {"agent": curve.get("agent", "?"), "label": curve.get("label") or curve.get(
                    "agent", "?"), "source": curve.get("source", ""),
                 "points": curve["points"], "path": "curves:" + pointer("curves", k, "points")}
            )
    return found


def _layout(title: str, xtitle: str, ytitle: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "xaxis": {"title": {"text": xtitle}},
        "yaxis": {"title": {"text": ytitle}},
        "margin": {"l": 55, "r": 10, "t": 40, "b": 45},
        "legend": {"orientation": "h", "y": -0.25},
        **extra,
    }


def tier_figure(
    fig_id: str,
    env: Mapping[str, Any],
    columns: Sequence[tuple[str, Mapping[str, Any]]],
    agents: Sequence[tuple[str, Sequence[tuple[str, float, list[float] | None] | None]]],
) -> dict[str, Any]:
    """Headline metric per column (default config, then each tier), one bar per agent,
    with its 95% interval as the error bar where the board has one. ``agents`` is (name,
    one (value pointer, value, interval) or None per column)."""
    labels = [label for label, _ in columns]
    data = []
    for n, (name, cells) in enumerate(agents):
        xs, ys, paths, plus, minus = [], [], [], [], []
        for label, cell in zip(labels, cells):
            if cell is None:
                continue
            path, value, interval = cell
            xs.append(label)
            ys.append(value)
            paths.append(path)
            plus.append(interval[1] - value if interval else 0.0)
            minus.append(value - interval[0] if interval else 0.0)
        trace = {
            "type": "bar", "name": name, "x": xs, "y": ys,
            "marker": {"color": PALETTE[n % len(PALETTE)]},
            "error_y": {"type": "data", "array": plus, "arrayminus": minus, "visible": True},
            "meta": {"paths": {"y": paths}},
        }
        data.append(trace)
    metric = env.get("metric", "success_rate")
    title = f"{metric} by difficulty tier (95% intervals)" if len(columns) > 1 else (
        f"{metric} (95% interval)")
    return {"id": fig_id, "data": data,
            "layout": _layout(title, "tier", metric, barmode="group")}


def histogram_figure(
    fig_id: str, label: str, agents: Sequence[tuple[str, str, Sequence[float]]]
) -> dict[str, Any]:
    """Per-episode reward distribution of one column, one overlaid histogram per agent
    (``agents``: name, pointer to its reward list, the list)."""
    data = [
        {
            "type": "histogram", "name": name, "x": list(rewards), "opacity": 0.6,
            "nbinsx": 20, "marker": {"color": PALETTE[n % len(PALETTE)]},
            "meta": {"paths": {"x": path}},
        }
        for n, (name, path, rewards) in enumerate(agents)
    ]
    return {"id": fig_id, "data": data, "layout": _layout(
        f"per-episode reward, {label}", "episode reward", "episodes", barmode="overlay")}


def curves_figure(fig_id: str, curves: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Training curves, success rate (or mean reward) against the iteration."""
    data = []
    for n, curve in enumerate(curves):
        points = curve["points"]
        ykey = next((k for k in Y_KEYS if k in points[0]), None)
        xkey = next((k for k in X_KEYS if k in points[0]), None)
        if ykey is None or xkey is None:
            continue
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": f"{curve['label']} ({ykey})",
            "x": [p[xkey] for p in points], "y": [p[ykey] for p in points],
            "line": {"color": PALETTE[n % len(PALETTE)]}, "marker": {"size": 4},
            "meta": {"paths": {"x": f"{curve['path']}/*/{xkey}",
                               "y": f"{curve['path']}/*/{ykey}"}},
        })
    return {"id": fig_id, "data": data, "layout": _layout(
        "learning curves (rollouts during training)", "iteration", "success rate / reward")}


def record_curve(
    board_path: str | Path,
    agent: str,
    metrics_jsonl: str | Path,
    *,
    fingerprint: str | None = None,
) -> Path:
    """Put ``agent``'s learning curve, read from its PPO run's ``metrics.jsonl``, in the
    curves.json beside the board (replacing that agent's earlier curve). The board must
    have an entry of that name: a curve belongs to an agent on the board. ``fingerprint``
    is the run's model fingerprint (as the leaderboard runner computes it); where both it
    and the entry's are known they must agree, so a curve of a retrained model that only
    shares the path is refused."""
    board_path = Path(board_path)
    folder = board_path if board_path.is_dir() else board_path.parent
    board = json.loads((folder / "leaderboard.json").read_text())
    entries = {e["agent"]["name"]: e for e in board.get("entries") or ()}
    if agent not in entries:
        raise ValueError(f"no entry named {agent!r} on {folder}; it has {sorted(entries)}")
    evaluated = entries[agent]["agent"].get("fingerprint")
    if fingerprint and evaluated and fingerprint != evaluated:
        raise ValueError(
            f"{metrics_jsonl} belongs to a model with fingerprint {fingerprint[:12]}, not the "
            f"one {agent!r} was evaluated with ({evaluated[:12]}): a retrained model's curve"
        )
    points = curve_from_metrics(metrics_jsonl)
    if not points:
        raise ValueError(f"{metrics_jsonl} has no iterations")
    path = folder / "curves.json"
    data = json.loads(path.read_text()) if path.is_file() else {"schema": CURVES_SCHEMA}
    curves = [c for c in data.get("curves") or () if c.get("agent") != agent]
    curves.append({
        "agent": agent,
        "label": agent,
        "source": Path(metrics_jsonl).as_posix(),
        "fingerprint": fingerprint,
        "note": "rollouts sampled during training (temperature 1), not test-split scores",
        "points": points,
    })
    data["curves"] = curves
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
    return path
