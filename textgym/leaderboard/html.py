"""``textgym leaderboard html``: the board as one static, self-contained web page.

The page is made from leaderboard.json alone (plus curves.json, when the board folder has
one): sortable tables per env and difficulty tier, the ranking with its intervals when
the board has standings, each agent's provenance, per-episode reward histograms, success
by tier, learning curves, and a link to each entry's JSON (written next to the page). It
opens from file:// with no server and no network: CSS, JavaScript and the plotly.js bundle
are inlined, and a Content-Security-Policy forbids every fetch.

Every number on the page sits in an element whose ``data-path`` is the JSON pointer it
was read from, and every chart trace names its pointers in ``meta.paths``, so
:mod:`textgym.leaderboard.html_check` can prove the page says what the JSON says. Fields
are read defensively: tiers, intervals and standings show where the board has them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from textgym.fileio import atomic_write_text
from textgym.leaderboard.html_assets import CSP, CSS, JS, plotly_bundle_b64
from textgym.leaderboard.html_cells import digits, num, table, td_commit, td_num, td_text
from textgym.leaderboard.html_charts import (
    collect_curves,
    curves_figure,
    histogram_figure,
    pointer,
    tier_figure,
)
from textgym.leaderboard.standings import TRAINED, headroom

__all__ = ["build_page", "write_site", "entry_filename", "COLUMNS"]

#: Per-column table: (metric key, header, decimals).
COLUMNS = (
    ("success_rate", "success", 3),
    ("mean_reward", "mean reward", 4),
    ("mean_tool_calls", "tool calls / ep", 3),
    ("invalid_call_rate", "invalid calls", 3),
    ("mean_agent_tokens", "agent tokens / ep", 1),
    ("episodes_per_second", "episodes / s", 1),
)


def entry_filename(index: int, entry: Mapping[str, Any]) -> str:
    """entries/NN-name.json: the index keeps names that slug alike apart."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in entry["agent"]["name"])
    return f"entries/{index:02d}-{name.strip('._') or 'agent'}.json"


def _columns(env: Mapping[str, Any]) -> list[tuple[str | None, Mapping[str, Any], str]]:
    """(tier or None for the default config, its info, its pointer) of an env's columns."""
    out: list[tuple[str | None, Mapping[str, Any], str]] = [(None, env, "")]
    for t, tier in enumerate(env.get("tiers") or ()):
        out.append((tier.get("tier"), tier, f"/tiers/{t}"))
    return out


class _Index:
    """Where each cell and standings row sits in the board, for pointers."""

    def __init__(self, board: Mapping[str, Any]):
        self.cells: dict[tuple[str, str, str | None], tuple[int, int, dict]] = {}
        self.entry_index: dict[str, int] = {}
        for i, entry in enumerate(board.get("entries") or ()):
            self.entry_index[entry["agent"]["name"]] = i
            for j, cell in enumerate(entry.get("results") or ()):
                self.cells[(entry["agent"]["name"], cell["env"], cell.get("tier"))] = (
                    i, j, cell)
        standings = board.get("standings") or {}
        self.stand = {
            (row.get("agent"), row.get("env"), row.get("tier")): (k, row)
            for k, row in enumerate(standings.get("cells") or ())
        }
        self.ranking = list(standings.get("ranking") or ())
        rank_of = {row.get("agent"): row.get("rank", n) for n, row in enumerate(self.ranking)}
        self.agents = sorted(
            (e["agent"]["name"] for e in board.get("entries") or ()),
            key=lambda a: (rank_of.get(a, len(rank_of)), a),
        )


def _interval_tds(idx: _Index, key: tuple, metric: str) -> str:
    """The 95% interval of a cell's ``metric`` from the standings, or two empty cells."""
    found = idx.stand.get(key)
    if not found:
        return '<td class="n">-</td><td class="n">-</td>'
    k, row = found
    interval = (row.get("intervals") or {}).get(metric)
    if not interval:
        return '<td class="n">-</td><td class="n">-</td>'
    base = pointer("standings", "cells", k, "intervals", metric)
    places = digits(metric)
    return td_num(interval[0], f"{base}/0", places) + td_num(interval[1], f"{base}/1", places)


def _column_table(table_id: str, idx: _Index, env: Mapping[str, Any], tier) -> str:
    metric = env.get("metric", "success_rate")
    headers = [("agent", False), (f"{metric} (headline)", True), ("95% low", True),
               ("95% high", True)]
    headers += [(label, True) for _, label, _ in COLUMNS] + [("episodes", True)]
    rows = []
    for name in idx.agents:
        found = idx.cells.get((name, env["env"], tier))
        if found is None:
            continue
        i, j, cell = found
        base = pointer("entries", i, "results", j)
        metrics = cell.get("metrics") or {}
        head_metric = cell.get("metric", metric)
        row = td_text(name, pointer("entries", i, "agent", "name"))
        row += td_num(metrics.get(head_metric), f"{base}/metrics/{head_metric}",
                       digits(head_metric))
        row += _interval_tds(idx, (name, env["env"], tier), head_metric)
        for key, _, places in COLUMNS:
            row += td_num(metrics.get(key), f"{base}/metrics/{key}", places)
        row += td_num(cell.get("episodes"), f"{base}/episodes", 0)
        rows.append(row)
    if not rows:
        return '<p class="muted">no agent has a cell here</p>'
    return table(table_id, headers, rows)


def _ranking(board: Mapping[str, Any], idx: _Index) -> str:
    """The overall ranking (from the standings) and the headline metric per env."""
    envs = list(board.get("envs") or ())
    parts = []
    if idx.ranking:
        rows = []
        for k, row in enumerate(idx.ranking):
            base = pointer("standings", "ranking", k)
            interval = row.get("interval") or [None, None]
            rows.append(
                td_num(row.get("rank"), f"{base}/rank", 0)
                + td_text(row.get("agent"), f"{base}/agent")
                + td_num(row.get("score"), f"{base}/score", 3)
                + td_num(interval[0], f"{base}/interval/0", 3)
                + td_num(interval[1], f"{base}/interval/1", 3)
            )
        headers = [("rank", True), ("agent", False), ("score", True), ("95% low", True),
                   ("95% high", True)]
        method = (board.get("standings") or {}).get("method") or {}
        parts += ["<h2 id=ranking>Ranking</h2>", table("ranking-table", headers, rows)]
        parts += [f'<p class="muted">{escape(str(k))}: {escape(str(v))}</p>'
                  for k, v in method.items()]
    rows = []
    for name in idx.agents:
        row = td_text(name, pointer("entries", idx.entry_index[name], "agent", "name"))
        for env in envs:
            found = idx.cells.get((name, env["env"], None))
            if found is None:
                row += '<td class="n">-</td>'
                continue
            i, j, cell = found
            metric = cell.get("metric", env.get("metric"))
            row += td_num(cell["metrics"].get(metric),
                           pointer("entries", i, "results", j, "metrics", metric),
                           digits(metric))
        rows.append(row)
    headers = [("agent", False)] + [
        (f"{env['env'].removeprefix('TextEnv-')} ({env.get('metric')})", True) for env in envs]
    parts += ["<h2 id=headline>Headline (default config of each env)</h2>",
              table("headline-table", headers, rows)]
    return "\n".join(parts)


def _headroom(board: Mapping[str, Any], idx: _Index) -> str:
    """Per env column, the best trained entry against the random agent and the oracle."""
    standings = board.get("standings") or {}
    if not standings.get("cells"):
        return ""
    names = {str(e["agent"].get("spec")): e["agent"]["name"] for e in board.get("entries") or ()}

    def value_td(name: str | None, env_id: str, tier: str | None, metric: str) -> str:
        found = idx.cells.get((name, env_id, tier)) if name else None
        if found is None:
            return '<td class="n">-</td>'
        i, j, cell = found
        metric = cell.get("metric", metric)
        return td_num(cell["metrics"].get(metric),
                      pointer("entries", i, "results", j, "metrics", metric), digits(metric))

    rows = []
    for row in headroom(board, standings):
        metric = next(e.get("metric") for e in board["envs"] if e["env"] == row["env"])
        best = row["best_trained"]
        rows.append(
            f'<td data-derived="a name">{escape(row["env"])}</td>'
            f'<td data-derived="a name">{escape(row["tier"] or "default")}</td>'
            + value_td(names.get("random"), row["env"], row["tier"], metric)
            + (td_text(best, pointer("entries", idx.entry_index[best], "agent", "name"))
               if best else "<td>-</td>")
            + value_td(best, row["env"], row["tier"], metric)
            + value_td(names.get("oracle"), row["env"], row["tier"], metric)
            + f"<td>{escape(row['verdict'])}</td>"
        )
    headers = [("env", False), ("tier", False), ("random", True), ("best trained", False),
               ("its value", True), ("oracle", True), ("where", False)]
    return ('<h2 id=headroom>Headroom</h2><p class="muted">The best trained entry of each env '
            "column against the random floor and the oracle.</p>"
            + table("headroom-table", headers, rows))


def _env_section(n: int, env: Mapping[str, Any], idx: _Index, figures: list) -> str:
    base = pointer("envs", n)
    cols = _columns(env)
    out = [f'<h2 id="env-{n}">{escape(env["env"])}</h2>',
           f'<p class="muted">headline metric {escape(str(env.get("metric")))}; version '
           f'{escape(str(env.get("env_version")))}; test split hash '
           f'<code data-path="{base}/split_hash" data-kind="str">'
           f'{escape(str(env.get("split_hash")))}</code></p>']
    for t, (tier, info, tier_ptr) in enumerate(cols):
        label = "default" if tier is None else tier
        size = info.get("test_size")
        size_html = num(size, f"{base}{tier_ptr}/test_size", 0) if size is not None else "?"
        desc = (f' &mdash; <span data-path="{base}{tier_ptr}/description" data-kind="str">'
                f"{escape(str(info['description']))}</span>" if info.get("description") else "")
        kwargs = (f' <code data-path="{base}{tier_ptr}/kwargs" data-kind="json">'
                  f"{escape(json.dumps(info['kwargs']))}</code>" if info.get("kwargs") else "")
        out.append(f"<h3>tier: {escape(label)}{desc}{kwargs} "
                   f'<span class="muted">({size_html} test items)</span></h3>')
        out.append(_column_table(f"env-{n}-tier-{t}", idx, env, tier))
    bars = []
    for name in idx.agents:
        cells = []
        for tier, _, _ in cols:
            found = idx.cells.get((name, env["env"], tier))
            if found is None:
                cells.append(None)
                continue
            i, j, cell = found
            metric = cell.get("metric", env.get("metric"))
            stand = idx.stand.get((name, env["env"], tier))
            interval = ((stand[1].get("intervals") or {}).get(metric) if stand else None)
            cells.append((pointer("entries", i, "results", j, "metrics", metric),
                          cell["metrics"][metric], interval))
        if any(cells):
            bars.append((name, cells))
    labels = [("default" if tier is None else tier, info) for tier, info, _ in cols]
    hist = []
    for name in idx.agents:
        found = idx.cells.get((name, env["env"], None))
        if found is not None:
            i, j, cell = found
            hist.append((name, pointer("entries", i, "results", j, "per_episode", "reward"),
                         cell["per_episode"]["reward"]))
    figures.append(tier_figure(f"fig-env-{n}-tiers", env, labels, bars))
    figures.append(histogram_figure(f"fig-env-{n}-hist", "default config", hist))
    out.append(f'<div class="charts"><div class="chart" id="fig-env-{n}-tiers"></div>'
               f'<div class="chart" id="fig-env-{n}-hist"></div></div>')
    return "\n".join(out)


HARDWARE_KEYS = ("machine", "cpu_count", "gpu", "system", "python", "torch")


def _hardware(hw: Mapping[str, Any] | None, base: str) -> str:
    """The hardware fields as HTML, each tagged with its pointer under ``base``."""
    if not isinstance(hw, Mapping):
        return ""
    return ", ".join(
        f'{k} <span data-path="{base}/{k}" data-kind="str">{escape(str(hw[k]))}</span>'
        for k in HARDWARE_KEYS if hw.get(k) is not None
    )


def _provenance(board: Mapping[str, Any], idx: _Index) -> str:
    rows = []
    for i, entry in enumerate(board.get("entries") or ()):
        agent, prov = entry.get("agent") or {}, entry.get("provenance") or {}
        base = pointer("entries", i)
        if prov.get("command"):
            command = td_text(prov["command"], f"{base}/provenance/command")
        else:  # entries do not record the command yet; this one makes the same entry
            command = (
                '<td data-derived="from the spec, name and seed"><code>'
                + escape(f"textgym leaderboard submit --agent {agent.get('spec')} --name "
                         f"{json.dumps(agent.get('name'))} --seed {prov.get('seed')}")
                + "</code> (reconstructed)</td>"
            )
        training = prov.get("training") or {}
        run = training.get("run") or {}
        # How the model was trained: its trainer's command, and what its run.json recorded.
        command_of_training = training.get("command")
        trained = (
            f'<span data-path="{base}/provenance/training/command" data-kind="str">'
            + escape(command_of_training) + "</span>"
            if command_of_training else ""
        )
        if run:
            advantage = (run.get("config") or {}).get("advantage")
            trained += "<br><small>" + escape(
                f"{run.get('kind', '?')} on {run.get('env', '?')}"
                + (f", advantage {advantage}" if advantage else "")
                + (f", LoRA rank {run['lora_rank']}" if run.get("lora_rank") else "")
                + (", learned reward" if run.get("reward_model") else "")
            ) + "</small>"
        trained = f'<td data-derived="the summary of provenance/training/run">{trained}</td>'
        link = entry_filename(i, entry)
        rows.append(
            td_text(agent.get("name"), f"{base}/agent/name")
            + td_text(agent.get("spec"), f"{base}/agent/spec")
            + td_text(agent.get("description"), f"{base}/agent/description")
            + td_commit(prov.get("git_commit"), f"{base}/provenance/git_commit")
            + td_num(prov.get("seed"), f"{base}/provenance/seed", 0)
            + f"<td>{_hardware(prov.get('hardware'), f'{base}/provenance/hardware')}</td>"
            + td_text(prov.get("date"), f"{base}/provenance/date")
            + td_text(prov.get("textgym_version"), f"{base}/provenance/textgym_version")
            + command
            + trained
            + f'<td data-derived="a file name"><a href="{escape(link)}">'
            + f'{escape(link.split("/")[-1])}</a></td>'
        )
    headers = [(h, h == "seed") for h in ("agent", "spec", "description", "git commit",
               "seed", "hardware", "date", "textgym", "command", "trained by", "entry JSON")]
    return "<h2 id=provenance>Provenance</h2>\n" + table("provenance-table", headers, rows)



def _curves_section(board, curves: list[dict[str, Any]], figures: list) -> str:
    """The curves chart, where each came from, and the trained entries without one."""
    with_curve = {c["agent"] for c in curves}
    missing = [
        e["agent"]["name"] for e in board.get("entries") or ()
        if str(e["agent"].get("spec", "")).startswith(TRAINED)
        and e["agent"]["name"] not in with_curve
    ]
    notes = "".join(
        f"<li>{escape(c['label'])} ({escape(c['agent'])}): {len(c['points'])} points from "
        f"<code>{escape(str(c['source']))}</code></li>" for c in curves)
    notes += "".join(
        f"<li>{escape(name)}: no curve recorded; add one with <code>textgym leaderboard html "
        f"--curve {escape(name)}=RUN/ppo/metrics.jsonl</code></li>" for name in missing)
    chart = ""
    if curves:
        figures.append(curves_figure("fig-curves", curves))
        chart = '<div class="chart" id="fig-curves"></div>'
    elif not missing:
        notes = "<li>no trained entry on this board</li>"
    return f'<h2 id=curves>Learning curves</h2>{chart}<ul class="muted">{notes}</ul>'


def _script_json(value: Any, element_id: str) -> str:
    text = json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def build_page(
    board: Mapping[str, Any],
    curves_file: Mapping[str, Any] | None = None,
    *,
    board_href: str | None = None,
) -> str:
    """The page's HTML. ``board_href`` links the page to its leaderboard.json."""
    idx = _Index(board)
    figures: list[dict[str, Any]] = []
    curves = collect_curves(board, curves_file)
    envs = list(board.get("envs") or ())
    body = [_ranking(board, idx), _headroom(board, idx)]
    body += [_env_section(n, env, idx, figures) for n, env in enumerate(envs)]
    body += [_curves_section(board, curves, figures), _provenance(board, idx)]
    prov = board.get("provenance") or {}
    nav = "".join(f'<a href="#env-{n}">{escape(e["env"])}</a>' for n, e in enumerate(envs))
    source = (f'<a href="{escape(board_href)}">leaderboard.json</a>' if board_href
              else "leaderboard.json")
    head = (
        f"<h1>textgym leaderboard</h1><p class=muted>made from {source} "
        f"({escape(str(board.get('schema')))}); board written "
        f'<span data-path="/provenance/date" data-kind="str">'
        f'{escape(str(prov.get("date")))}</span> '
        f'at commit <code data-path="/provenance/git_commit" data-kind="str">'
        f"{escape(str(prov.get('git_commit')))}</code> on "
        f"{_hardware(prov.get('hardware'), '/provenance/hardware')}; seed "
        f'<span data-path="/seed" data-kind="str">{escape(str(board.get("seed")))}</span>, '
        f'env kwargs <code data-path="/env_kwargs" data-kind="json">'
        f"{escape(json.dumps(board.get('env_kwargs') or {}))}</code>. "
        "Click a column header to sort.</p>"
        f'<nav><a href="#ranking">ranking</a><a href="#curves">curves</a>'
        f'<a href="#provenance">provenance</a>{nav}</nav>'
    )
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>textgym leaderboard</title><style>{CSS}</style></head><body>",
        head, *body,
        _script_json(figures, "figures"),
        _script_json({"curves": [{k: c[k] for k in ("agent", "label", "source", "points")}
                                 for c in curves if c["path"].startswith("curves:")]},
                     "curves-data"),
        f'<script type="application/gzip-base64" id="plotly-gz">{plotly_bundle_b64()}</script>',
        f"<script>{JS}</script>", "</body></html>", "",
    ])


def write_site(
    board_path: str | Path,
    out_dir: str | Path,
    *,
    curves_path: str | Path | None = None,
) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/entries/*.json`` from the board at
    ``board_path`` (its leaderboard.json, or the folder holding it). ``curves_path``
    defaults to curves.json beside the board, when there is one. Returns the page."""
    board_path = Path(board_path)
    if board_path.is_dir():
        board_path = board_path / "leaderboard.json"
    if not board_path.is_file():
        raise FileNotFoundError(f"no board at {board_path} (a folder with leaderboard.json)")
    board = json.loads(board_path.read_text())
    if curves_path is None and (board_path.parent / "curves.json").is_file():
        curves_path = board_path.parent / "curves.json"
    curves_file = json.loads(Path(curves_path).read_text()) if curves_path else None
    out = Path(out_dir)
    (out / "entries").mkdir(parents=True, exist_ok=True)
    for stale in (out / "entries").glob("*.json"):
        stale.unlink()
    for i, entry in enumerate(board.get("entries") or ()):
        atomic_write_text(out / entry_filename(i, entry), json.dumps(entry) + "\n")
    href = Path(os.path.relpath(board_path.resolve(), out.resolve())).as_posix()
    page = out / "index.html"
    atomic_write_text(page, build_page(board, curves_file, board_href=href))
    return page

