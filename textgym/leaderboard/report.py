"""Writing a board: ``leaderboard.json`` (the record), ``leaderboard.md`` (tables made from
that JSON alone) and ``leaderboard.png`` (the headline metric per env and agent)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textgym.fileio import atomic_write_text
from textgym.leaderboard.records import METRICS

__all__ = ["write_board", "board_markdown", "headline_table", "ranked_entries", "fmt"]


def fmt(value: float | None) -> str:
    """How every number appears in the Markdown (tests parse it back)."""
    return "-" if value is None else f"{value:.4f}"


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
        values = [fmt(_headline(entry, env)) for env in board["envs"]]
        lines.append(f"| {entry['agent']['name']} | " + " | ".join(values) + " |")
    return lines


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
        "Every number below is in `leaderboard.json`; each entry there carries its own "
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
            values = [fmt(None if cell is None else cell["metrics"][m]) for m in names]
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


def _chart(board: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = board["envs"]
    ranked = ranked_entries(board)
    width = 0.8 / max(1, len(ranked))
    fig, ax = plt.subplots(figsize=(max(6.0, 2.2 * len(envs)), 4.0))
    for k, entry in enumerate(ranked):
        xs = [i + (k - (len(ranked) - 1) / 2) * width for i in range(len(envs))]
        ys = [_headline(entry, env) or 0.0 for env in envs]
        ax.bar(xs, ys, width=width, label=entry["agent"]["name"])
    ax.set_xticks(range(len(envs)))
    ax.set_xticklabels(
        [f"{e['env'].removeprefix('TextEnv-')}\n({e['metric']})" for e in envs], fontsize=8
    )
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_ylabel("headline metric on the test split")
    ax.set_title("textgym leaderboard")
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
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
