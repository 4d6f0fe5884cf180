"""Writing a board: ``leaderboard.json`` (the record), ``leaderboard.md`` (tables made from
that JSON alone) and ``leaderboard.png`` (the headline metric per env and agent)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textgym.fileio import atomic_write_text
from textgym.leaderboard.records import METRICS

__all__ = [
    "write_board",
    "board_markdown",
    "headline_table",
    "ranked_entries",
    "fmt",
    "chart_figure",
    "value_limits",
]


#: Decimals per metric: rates are k/n over at most a few thousand items, so 3 decimals
#: are exact-ish; rewards can be continuous (Sentiment, the zero-sum race), so 4; per-episode
#: counts need no more than a tenth or hundredth. Throughput is noisy: see ``_throughput``.
DECIMALS: dict[str, int] = {
    "success_rate": 3,
    "invalid_call_rate": 3,
    "mean_reward": 4,
    "mean_tool_calls": 2,
    "mean_agent_tokens": 1,
}


def _throughput(value: float) -> str:
    # Timing noise swamps anything past 3 significant figures: 1559.3113 -> "1559",
    # 37.9566 -> "38.0", 0.12345 -> "0.123".
    if value <= 0 or not math.isfinite(value):
        return f"{value:.0f}"
    return f"{value:.{max(0, 2 - math.floor(math.log10(value)))}f}"


def fmt(value: float | None, metric: str | None = None) -> str:
    """How a number appears in the Markdown and on the chart, at the precision its
    ``metric`` merits (``None``: 4 decimals); ``-`` for a missing cell."""
    if value is None:
        return "-"
    if metric == "episodes_per_second":
        return _throughput(value)
    return f"{value:.{DECIMALS.get(metric, 4)}f}"


def _cells(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {cell["env"]: cell for cell in entry["results"]}


def _headline(entry: Mapping[str, Any], env: Mapping[str, Any]) -> float | None:
    cell = _cells(entry).get(env["env"])
    return None if cell is None else float(cell["metrics"][env["metric"]])


def ranked_entries(board: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Entries by their mean headline metric over the board's envs (a missing cell counts
    as the worst score), best first; ties keep name order."""

    def score(entry: Mapping[str, Any]) -> float:
        values = [_headline(entry, env) for env in board["envs"]]
        return sum(-1.0 if v is None else v for v in values) / max(1, len(values))

    by_name = sorted(board["entries"], key=lambda e: e["agent"]["name"])
    return sorted(by_name, key=score, reverse=True)


def headline_table(board: Mapping[str, Any]) -> list[str]:
    """The Markdown rows of the headline table: agents by rank, one column per env."""
    lines = [
        "| agent | " + " | ".join(f"{e['env']} ({e['metric']})" for e in board["envs"]) + " |",
        "|---|" + "---:|" * len(board["envs"]),
    ]
    for entry in ranked_entries(board):
        values = [fmt(_headline(entry, env), env["metric"]) for env in board["envs"]]
        lines.append(f"| {entry['agent']['name']} | " + " | ".join(values) + " |")
    return lines


def _env_kwargs_note(board: Mapping[str, Any]) -> str:
    # Envs made with non-default kwargs have other test splits: say so up front.
    kwargs = board.get("env_kwargs")
    if not kwargs:
        return ""
    return f"Every env made with `gym.make(env_id, **{json.dumps(kwargs, sort_keys=True)})`. "


def board_markdown(board: Mapping[str, Any]) -> str:
    prov = board["provenance"]
    hardware = prov.get("hardware", {})
    episodes = board["episodes"]
    lines = [
        "# textgym leaderboard",
        "",
        f"Fixed test splits, {'every item' if episodes is None else f'{episodes} items'} "
        f"per env, episode i seeded with {board['seed']} + i. Written by textgym "
        f"{prov.get('textgym_version')} (commit {str(prov.get('git_commit'))[:10]}) on "
        f"{prov.get('date')}; {hardware.get('cpu_count')} CPUs, "
        f"{hardware.get('gpu') or 'no GPU'}, torch {hardware.get('torch')}. "
        + _env_kwargs_note(board)
        + "Every number below is in `leaderboard.json`; each entry there carries its own "
        "provenance.",
        "",
        "## Headline",
        "",
        *headline_table(board),
    ]
    ranked = ranked_entries(board)
    names = list(METRICS)
    for env in board["envs"]:
        lines += [
            "",
            f"## {env['env']}",
            "",
            f"Test split `{env['split_hash'][:16]}`, {env['test_size']} items; "
            f"headline metric `{env['metric']}`.",
            "",
            "| agent | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
        ]
        for entry in ranked:
            cell = _cells(entry).get(env["env"])
            values = [fmt(None if cell is None else cell["metrics"][m], m) for m in names]
            lines.append(f"| {entry['agent']['name']} | " + " | ".join(values) + " |")
    lines += ["", "## Metrics", ""]
    lines += [f"- `{name}`: {meaning}" for name, meaning in METRICS.items()]
    lines += ["", "## Agents", ""]
    for entry in ranked:
        agent = entry["agent"]
        lines.append(
            f"- **{agent['name']}**: `{agent['spec']}`, textgym "
            f"{entry['provenance']['textgym_version']}, {entry['provenance']['date']}"
            + (f" ({agent['description']})" if agent.get("description") else "")
        )
    return "\n".join(lines) + "\n"


def value_limits(values: Sequence[float]) -> tuple[float, float]:
    """Value-axis limits for the chart: they hold zero and every value, with room past
    each end for the value labels (below a negative bar, above a positive one), and a
    sliver below zero when nothing is negative so a zero score's marker is not clipped."""
    lo, hi = min([0.0, *values]), max([0.0, *values])
    span = (hi - lo) or 1.0
    pad = 0.15 * span
    return lo - (pad if lo < 0 else 0.05 * span), hi + pad


def _label_bar(ax, x: float, value: float | None, text: str, rotate: bool) -> None:
    # Outside the bar's end: above a positive or zero bar, below a negative one.
    y = 0.0 if value is None else value
    below = y < 0
    ax.annotate(
        text,
        (x, y),
        xytext=(0, -3 if below else 3),
        textcoords="offset points",
        ha="center",
        va="top" if below else "bottom",
        fontsize=7,
        rotation=90 if rotate else 0,
        color="0.45" if value is None else "black",
    )


def chart_figure(board: Mapping[str, Any]):
    """The figure of ``leaderboard.png``: per env, one bar per agent (in rank order) with
    its headline value written on it; a zero score is drawn as a flat mark at 0 and a
    missing cell as a grey ``-``. Close it with ``matplotlib.pyplot.close``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = board["envs"]
    ranked = ranked_entries(board)
    width = 0.8 / max(1, len(ranked))
    rotate = len(ranked) > 3  # narrow bars: upright labels would overlap
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(envs)) + 1.5, 4.0))
    values: list[float] = []
    for k, entry in enumerate(ranked):
        xs = [i + (k - (len(ranked) - 1) / 2) * width for i in range(len(envs))]
        ys = [_headline(entry, env) for env in envs]
        bars = ax.bar(xs, [y or 0.0 for y in ys], width=width, label=entry["agent"]["name"])
        color = bars.patches[0].get_facecolor() if bars.patches else None
        for x, y, env in zip(xs, ys, envs):
            if y == 0.0:  # a zero-height bar is invisible: mark it
                ax.hlines(0.0, x - width / 2, x + width / 2, colors=[color], linewidth=3)
            _label_bar(ax, x, y, fmt(y, env["metric"]), rotate)
        values += [y for y in ys if y is not None]
    ax.set_ylim(*value_limits(values))
    ax.set_xticks(range(len(envs)))
    ax.set_xticklabels(
        [f"{e['env'].removeprefix('TextEnv-')}\n({e['metric']})" for e in envs], fontsize=8
    )
    ax.axhline(0.0, color="black", linewidth=0.8, zorder=0)
    ax.set_ylabel("headline metric on the test split")
    ax.set_title("textgym leaderboard")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _chart(board: Mapping[str, Any], path: Path) -> None:
    fig = chart_figure(board)  # selects the Agg backend before pyplot loads
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    tmp.replace(path)


def write_board(board: Mapping[str, Any], out_dir: str | Path, *, chart: bool = True) -> Path:
    """Write the three files into ``out_dir``; return the JSON's path. Each is replaced
    atomically, so an interrupted write leaves the previous version."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "leaderboard.json", json.dumps(board, indent=1) + "\n")
    atomic_write_text(out / "leaderboard.md", board_markdown(board))
    if chart:
        _chart(board, out / "leaderboard.png")
    return out / "leaderboard.json"
