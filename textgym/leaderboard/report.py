"""Writing a board: ``leaderboard.json`` (the record), ``leaderboard.md`` (tables made from
that JSON alone) and ``leaderboard.png`` (the headline metric per env and agent)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from textgym.fileio import atomic_write_text
from textgym.leaderboard.records import ENTRY_SCHEMA, METRICS
from textgym.leaderboard.standings import cell_of, compute_standings, headroom
from textgym.leaderboard.tiers import column_label, columns

__all__ = [
    "write_board",
    "board_markdown",
    "headline_table",
    "ranking_table",
    "ranked_entries",
    "fmt",
    "fmt_interval",
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


def _standings(board: Mapping[str, Any], standings: Mapping[str, Any] | None):
    return compute_standings(board) if standings is None else standings


def ranked_entries(
    board: Mapping[str, Any], standings: Mapping[str, Any] | None = None
) -> list[Mapping[str, Any]]:
    """Entries in rank order (see :data:`~textgym.leaderboard.standings.METHOD`): by the
    mean headline metric over the board's envs on their default configs (a missing cell
    counts as the worst score), best first; equal ranks keep score, then name, order."""
    order = [row["agent"] for row in _standings(board, standings)["ranking"]]
    by_name = {e["agent"]["name"]: e for e in board["entries"]}
    return [by_name[name] for name in order]


def fmt_interval(interval: Sequence[float] | None, metric: str | None = None) -> str:
    """``[lo, hi]`` at the metric's precision; empty for a missing cell."""
    if interval is None:
        return ""
    return f"[{fmt(interval[0], metric)}, {fmt(interval[1], metric)}]"


def ranking_table(board: Mapping[str, Any], standings: Mapping[str, Any] | None = None):
    """The Markdown rows of the ranking: rank (ties shared), agent, overall score with its
    95% interval. The score is the board's old headline, kept for continuity."""
    lines = ["| rank | agent | score | 95% interval |", "|---:|---|---:|---|"]
    for row in _standings(board, standings)["ranking"]:
        lines.append(
            f"| {row['rank']} | {row['agent']} | {fmt(row['score'])} | "
            f"{fmt_interval(row['interval'])} |"
        )
    return lines


def headline_table(board: Mapping[str, Any], standings: Mapping[str, Any] | None = None):
    """The Markdown rows of the headline table: one row per env column (its default
    config, the continuity column, then each difficulty tier), one column per agent in
    rank order, each value with its 95% interval; ``-`` for a missing cell."""
    standings = _standings(board, standings)
    ranked = ranked_entries(board, standings)
    found = {(c["agent"], c["env"], c["tier"]): c for c in standings["cells"]}
    lines = [
        "| env (metric) | tier | " + " | ".join(e["agent"]["name"] for e in ranked) + " |",
        "|---|---|" + "---:|" * len(ranked),
    ]
    for env in board["envs"]:
        for k, (tier, column) in enumerate(columns(env)):
            values = []
            for entry in ranked:
                cell = found.get((entry["agent"]["name"], env["env"], tier))
                if cell is None:
                    values.append("-")
                    continue
                metric = column["metric"]
                values.append(
                    f"{fmt(cell['value'], metric)} {fmt_interval(cell['interval'], metric)}"
                )
            name = f"{env['env']} ({env['metric']})" if k == 0 else ""
            lines.append(f"| {name} | {column_label(tier)} | " + " | ".join(values) + " |")
    return lines


def _env_kwargs_note(board: Mapping[str, Any]) -> str:
    # Envs made with non-default kwargs have other test splits: say so up front.
    kwargs = board.get("env_kwargs")
    if not kwargs:
        return ""
    return f"Every env made with `gym.make(env_id, **{json.dumps(kwargs, sort_keys=True)})`. "


def _legend(standings: Mapping[str, Any]) -> list[str]:
    method = standings["method"]
    return [
        "## How to read it",
        "",
        f"- Intervals are {method['level']:.0%}: success rates by the "
        f"{method['success_rate']}, mean rewards by the {method['mean_reward']}.",
        "- `default` is each env's default config, the test split the board ranked on "
        "before difficulty tiers: the continuity column, where entries from before tiers "
        "count. The other rows are the env's tiers, each on its own hashed test split.",
        f"- Score: {method['score']}.",
        f"- Rank: {method['rank']}. Non-overlap of 95% intervals is a strict test, so "
        "agents that share a rank may still differ; they are not shown as ordered.",
    ]


def _split_line(column: Mapping[str, Any], tier: str | None) -> str:
    what = "default config" if tier is None else f"tier `{tier}`"
    kwargs = "" if tier is None else f" (`{json.dumps(column['kwargs'], sort_keys=True)}`)"
    note = f": {column['description']}" if column.get("description") else ""
    return (
        f"{what}{kwargs}{note}; test split `{column['split_hash'][:16]}`, "
        f"{column['test_size']} items; headline metric `{column['metric']}`."
    )


def headroom_table(board: Mapping[str, Any], standings: Mapping[str, Any]) -> list[str]:
    """Where the best trained entry sits between the random agent and the oracle, per env
    column: a board that separates agents has one strictly between on every row."""
    lines = [
        "## Headroom",
        "",
        "The best trained entry (a `ppo:`, `hf:` or `openai:` spec) of each column against "
        "the random floor and the oracle.",
        "",
        "| env | tier | random | best trained | oracle | where |",
        "|---|---|---:|---|---:|---|",
    ]
    for row in headroom(board, standings):
        metric = next(e["metric"] for e in board["envs"] if e["env"] == row["env"])
        best = "-" if row["best_trained"] is None else (
            f"{row['best_trained']} {fmt(row['value'], metric)}"
        )
        lines.append(
            f"| {row['env']} | {column_label(row['tier'])} | {fmt(row['random'], metric)} | "
            f"{best} | {fmt(row['oracle'], metric)} | {row['verdict']} |"
        )
    return lines


def board_markdown(board: Mapping[str, Any], standings: Mapping[str, Any] | None = None) -> str:
    standings = _standings(board, standings)
    prov = board["provenance"]
    hardware = prov.get("hardware", {})
    episodes = board["episodes"]
    lines = [
        "# textgym leaderboard",
        "",
        f"Fixed test splits, {'every item' if episodes is None else f'{episodes} items'} "
        f"per env and tier, episode i seeded with {board['seed']} + i. Written by textgym "
        f"{prov.get('textgym_version')} (commit {str(prov.get('git_commit'))[:10]}) on "
        f"{prov.get('date')}; {hardware.get('cpu_count')} CPUs, "
        f"{hardware.get('gpu') or 'no GPU'}, torch {hardware.get('torch')}. "
        + _env_kwargs_note(board)
        + "Every number below is in `leaderboard.json`; each entry there carries its own "
        "provenance.",
        "",
        "## Ranking",
        "",
        *ranking_table(board, standings),
        "",
        "## Headline",
        "",
        *headline_table(board, standings),
        "",
        *_legend(standings),
        "",
        *headroom_table(board, standings),
    ]
    ranked = ranked_entries(board, standings)
    names = list(METRICS)
    for env in board["envs"]:
        lines += ["", f"## {env['env']}"]
        for tier, column in columns(env):
            lines += [
                "",
                f"### {column_label(tier)}",
                "",
                _split_line(column, tier),
                "",
                "| agent | " + " | ".join(names) + " |",
                "|---|" + "---:|" * len(names),
            ]
            for entry in ranked:
                cell = cell_of(entry, env["env"], tier)
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
            + ("" if entry.get("schema") == ENTRY_SCHEMA else f"; entry {entry.get('schema')}")
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


def _label_bar(
    ax, x: float, value: float | None, text: str, rotate: bool, at: float | None = None
) -> None:
    # Outside the bar's end (or its error bar's, ``at``): above a positive or zero bar,
    # below a negative one.
    y = 0.0 if value is None else value
    below = y < 0
    ax.annotate(
        text,
        (x, y if at is None else at),
        xytext=(0, -3 if below else 3),
        textcoords="offset points",
        ha="center",
        va="top" if below else "bottom",
        fontsize=7,
        rotation=90 if rotate else 0,
        color="0.45" if value is None else "black",
    )


def chart_figure(board: Mapping[str, Any], standings: Mapping[str, Any] | None = None):
    """The figure of ``leaderboard.png``: per env column (default config, then each tier),
    one bar per agent (in rank order) with its 95% interval as an error bar and its
    headline value written above; a zero score is drawn as a flat mark at 0 and a missing
    cell as a grey ``-``. Close it with ``matplotlib.pyplot.close``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    standings = _standings(board, standings)
    found = {(c["agent"], c["env"], c["tier"]): c for c in standings["cells"]}
    cols = [(env, tier, column) for env in board["envs"] for tier, column in columns(env)]
    ranked = ranked_entries(board, standings)
    width = 0.8 / max(1, len(ranked))
    rotate = len(ranked) > 3 or len(cols) > len(board["envs"])  # narrow bars
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 * len(cols) + 1.0) + 1.5, 5.0))
    values: list[float] = []
    for k, entry in enumerate(ranked):
        name = entry["agent"]["name"]
        xs = [i + (k - (len(ranked) - 1) / 2) * width for i in range(len(cols))]
        found_cells = [found.get((name, env["env"], tier)) for env, tier, _ in cols]
        ys = [None if c is None else float(c["value"]) for c in found_cells]
        bars = ax.bar(xs, [y or 0.0 for y in ys], width=width, label=name)
        color = bars.patches[0].get_facecolor() if bars.patches else None
        err = [(x, c) for x, c in zip(xs, found_cells) if c is not None]
        if err:
            ax.errorbar(
                [x for x, _ in err],
                [c["value"] for _, c in err],
                yerr=[
                    [max(0.0, c["value"] - c["interval"][0]) for _, c in err],
                    [max(0.0, c["interval"][1] - c["value"]) for _, c in err],
                ],
                fmt="none",
                ecolor="0.2",
                elinewidth=0.8,
                capsize=1.5,
            )
        for x, y, cell, (_, _, column) in zip(xs, ys, found_cells, cols):
            if y == 0.0:  # a zero-height bar is invisible: mark it
                ax.hlines(0.0, x - width / 2, x + width / 2, colors=[color], linewidth=3)
            end = y if cell is None else (cell["interval"][1] if y >= 0 else cell["interval"][0])
            _label_bar(ax, x, y, fmt(y, column["metric"]), rotate, at=end)
        values += [y for y in ys if y is not None]
        values += [v for c in found_cells if c is not None for v in c["interval"]]
    ax.set_ylim(*value_limits(values))
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels(
        [
            f"{env['env'].removeprefix('TextEnv-').removesuffix('-v0')}\n{column_label(tier)}"
            f"\n({column['metric']})"
            for env, tier, column in cols
        ],
        fontsize=7,
    )
    ax.axhline(0.0, color="black", linewidth=0.8, zorder=0)
    ax.set_ylabel("headline metric on the test split (95% interval)")
    ax.set_title("textgym leaderboard: default config and difficulty tiers")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def _chart(board: Mapping[str, Any], path: Path, standings=None) -> None:
    fig = chart_figure(board, standings)  # selects the Agg backend before pyplot loads
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
    tmp.replace(path)


def write_board(board: Mapping[str, Any], out_dir: str | Path, *, chart: bool = True) -> Path:
    """Write the three files into ``out_dir``; return the JSON's path. Each is replaced
    atomically, so an interrupted write leaves the previous version. The standings
    (intervals, ranks) are recomputed from the entries and stored in the JSON; a dict
    ``board`` gets them too."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    standings = compute_standings(board)
    if isinstance(board, dict):
        board["standings"] = standings
    record = {**board, "standings": standings}
    atomic_write_text(out / "leaderboard.json", json.dumps(record, indent=1) + "\n")
    atomic_write_text(out / "leaderboard.md", board_markdown(board, standings))
    if chart:
        _chart(board, out / "leaderboard.png", standings)
    return out / "leaderboard.json"
