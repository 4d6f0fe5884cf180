"""The leaderboard's static page (textgym/leaderboard/html*.py).

Without a browser (always, in CI): every number the generated page shows and every chart
trace equals the JSON it names; tables are sortable; nothing is fetched from the network;
a planted mismatch is caught; the committed official page matches the committed board.
With Debian's chromium and Playwright: the same on what Chromium renders, plus console
errors and clicking to sort (skipped, with the reason, where either is missing).
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from textgym.app.cli import main
from textgym.leaderboard import compute_standings
from textgym.leaderboard.html import write_site
from textgym.leaderboard.html_browser import browser_problems, chromium_path
from textgym.leaderboard.html_charts import curve_from_metrics, record_curve
from textgym.leaderboard.html_check import (
    compare_text,
    load_docs,
    page_items,
    plant_mismatch,
    static_problems,
)

ROOT = Path(__file__).resolve().parents[1]
OFFICIAL = ROOT / "benchmarks" / "results" / "leaderboard"
HASH = "ab" * 32


def _cell(env, metric, rng, p, tier=None, n=40):
    success = [rng.random() < p for _ in range(n)]
    reward = [float(s) * rng.choice([0.5, 1.0]) for s in success]
    per = {"reward": reward, "success": success, "tool_calls": [1] * n,
           "invalid_calls": [0] * n, "agent_tokens": [rng.randrange(5, 40) for _ in range(n)]}
    metrics = {"success_rate": sum(success) / n, "mean_reward": sum(reward) / n,
               "mean_tool_calls": 1.0, "invalid_call_rate": 0.0,
               "mean_agent_tokens": sum(per["agent_tokens"]) / n, "episodes_per_second": 12.5}
    cell = {"env": env, "env_version": 0, "split": "test", "split_hash": HASH, "episodes": n,
            "seed": 0, "metric": metric, "metrics": metrics, "seconds": 3.2, "per_episode": per}
    return {**cell, "tier": tier} if tier else cell


def _board():
    """Two envs (one with tiers), three agents (one missing an env), standings computed
    the board's own way, and one entry that carries its learning curve."""
    rng = random.Random(0)
    tiers = [{"tier": t, "kwargs": {"level": k}, "description": f"level {k}", "split_hash": HASH,
              "test_size": 40, "metric": "success_rate"} for k, t in enumerate(("easy", "hard"))]
    envs = [
        {"env": "TextEnv-A-v0", "env_version": 0, "split_hash": HASH, "test_size": 40,
         "metric": "success_rate", "tiers": tiers},
        {"env": "TextEnv-B-v0", "env_version": 0, "split_hash": HASH, "test_size": 40,
         "metric": "mean_reward", "tiers": []},
    ]
    prov = {"textgym_version": "0.1.0", "git_commit": "0123456789abcdef" * 2 + "01234567",
            "seed": 0, "date": "2026-12-05T00:00:00+00:00",
            "hardware": {"machine": "x86_64", "cpu_count": 2, "python": "3.11.7"}}
    entries = []
    for name, p, envs_done in (("alpha", 0.9, "AB"), ("beta", 0.4, "AB"), ("gamma", 0.6, "A")):
        results = [_cell("TextEnv-A-v0", "success_rate", rng, p)]
        results += [_cell("TextEnv-A-v0", "success_rate", rng, p / (k + 1), t["tier"])
                    for k, t in enumerate(tiers)]
        if "B" in envs_done:
            results.append(_cell("TextEnv-B-v0", "mean_reward", rng, p))
        entries.append({"schema": "textgym-leaderboard-entry/2",
                        "agent": {"name": name, "spec": f"spec:{name}", "fingerprint": None},
                        "provenance": prov, "results": results})
    entries[0]["curve"] = [{"iteration": i, "success_rate": i / 10} for i in range(1, 6)]
    board = {"schema": "textgym-leaderboard/2", "episodes": None, "seed": 0, "env_kwargs": {},
             "tiers": True, "provenance": prov, "envs": envs, "entries": entries}
    board["standings"] = compute_standings(board)
    return board


@pytest.fixture
def site(tmp_path):
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    (board_dir / "leaderboard.json").write_text(json.dumps(_board()))
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"iteration": i, "env/success_rate": i / 8,
                                           "env/reward_mean": i / 8, "time/ppo/total": 6.0})
                               + "\n" for i in range(1, 9)))
    record_curve(board_dir, "beta", metrics)
    page = write_site(board_dir, tmp_path / "site")
    return page, board_dir


def test_page_numbers_and_charts_equal_the_json(site):
    page, board_dir = site
    html = page.read_text()
    board, curves = load_docs(board_dir / "leaderboard.json")
    assert static_problems(html, board, curves) == []
    parsed = page_items(html)
    paths = {item["path"] for item in parsed.items}
    # Tiers, intervals, ranks and provenance all shown, each traced to the JSON.
    assert "/entries/0/results/1/metrics/success_rate" in paths  # alpha's "easy" tier
    assert any(p.startswith("/standings/cells/") and "/intervals/" in p for p in paths)
    assert "/standings/ranking/0/rank" in paths
    assert "/entries/2/provenance/git_commit" in paths
    figures = json.loads(parsed.scripts["figures"])
    ids = {f["id"] for f in figures}
    assert {"fig-env-0-tiers", "fig-env-0-hist", "fig-env-1-hist", "fig-curves"} <= ids
    curve = next(f for f in figures if f["id"] == "fig-curves")
    assert [t["meta"]["paths"]["y"] for t in curve["data"]] == [
        "/entries/0/curve/*/success_rate", "curves:/curves/0/points/*/success_rate"]


def test_page_is_self_contained_and_sortable(site):
    page, _ = site
    html = page.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert 'th class="sortable" data-sort="num"' in html
    assert 'id="plotly-gz"' in html  # the chart library travels inside the page
    assert page.stat().st_size < 3_000_000
    links = [line for line in html.split('href="')[1:] if line.startswith("entries/")]
    assert len(links) == 3
    for link in links:
        entry = json.loads((page.parent / link.split('"')[0]).read_text())
        assert entry["schema"] == "textgym-leaderboard-entry/2"


@pytest.mark.parametrize("where", ["table", "chart"])
def test_planted_mismatch_is_caught(site, where):
    page, board_dir = site
    board, curves = load_docs(board_dir / "leaderboard.json")
    problems = static_problems(plant_mismatch(page.read_text(), where), board, curves)
    assert len(problems) == 1, problems
    # and an edited JSON is caught the same way
    board["entries"][0]["results"][0]["metrics"]["mean_tool_calls"] = 7.0
    assert any("mean_tool_calls" in p for p in static_problems(page.read_text(), board, curves))


def test_compare_text_rounding():
    assert compare_text("0.900", 0.9004, None)
    assert not compare_text("0.900", 0.9006, None)
    assert compare_text("3", 3, None) and not compare_text("3", 4, None)
    assert compare_text("0123456789ab", "0123456789abcdef", "prefix")
    assert not compare_text("0.5", "0.5", None)  # a number must come from a number


def test_old_board_without_tiers_or_standings_renders(tmp_path):
    board = _board()
    del board["standings"]
    for env in board["envs"]:
        env.pop("tiers")
    for entry in board["entries"]:
        entry["results"] = [c for c in entry["results"] if "tier" not in c]
    (tmp_path / "leaderboard.json").write_text(json.dumps(board))
    page = write_site(tmp_path, tmp_path / "site")
    assert static_problems(page.read_text(), board) == []
    assert "Ranking</h2>" not in page.read_text()


def test_cli_html_and_curve_points(tmp_path, capsys):
    (tmp_path / "leaderboard.json").write_text(json.dumps(_board()))
    metrics = tmp_path / "m.jsonl"
    metrics.write_text('{"iteration": 1, "env/success_rate": 0.25, "time/ppo/total": 30}\n')
    assert curve_from_metrics(metrics) == [{"iteration": 1, "minutes": 0.5, "success_rate": 0.25}]
    argv = ["leaderboard", "html", "--board", str(tmp_path), "--out", str(tmp_path / "s"),
            "--curve", f"gamma={metrics}"]
    assert main(argv) == 0
    assert (tmp_path / "s" / "index.html").is_file()
    assert json.loads((tmp_path / "curves.json").read_text())["curves"][0]["agent"] == "gamma"
    with pytest.raises(ValueError, match="no entry named"):
        record_curve(tmp_path, "nobody", metrics)
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    board["entries"][0]["agent"]["fingerprint"] = "a" * 64
    (tmp_path / "leaderboard.json").write_text(json.dumps(board))
    with pytest.raises(ValueError, match="retrained"):
        record_curve(tmp_path, "alpha", metrics, fingerprint="b" * 64)


def test_committed_official_page_matches_the_committed_board():
    """The page committed beside leaderboard.json says what it says: regenerate it with
    `.venv/bin/python benchmarks/leaderboard_browser_check.py --regenerate` after a board
    update."""
    page = OFFICIAL / "site" / "index.html"
    board, curves = load_docs(OFFICIAL / "leaderboard.json")
    assert static_problems(page.read_text(), board, curves) == [], (
        "the page is stale: run benchmarks/leaderboard_browser_check.py --regenerate")
    for name in ("top.png", "env.png", "curves.png", "sorted.png"):
        assert (OFFICIAL / "screenshots" / name).is_file()


def _browser_or_skip():
    if chromium_path() is None:
        pytest.skip("no /usr/bin/chromium (apt-get install -y chromium); CI skips the "
                    "browser check: benchmarks/leaderboard_browser_check.py runs it")
    pytest.importorskip("playwright", reason="pip install 'textgym[browser]'")


@pytest.mark.slow
def test_in_chromium_page_matches_json_and_planted_mismatch_fails(site, tmp_path):
    _browser_or_skip()
    page, board_dir = site
    docs = dict(zip(("board", "curves"), load_docs(board_dir / "leaderboard.json")))
    assert browser_problems(page, docs, screenshots=tmp_path / "shots") == []
    assert (tmp_path / "shots" / "top.png").stat().st_size > 10_000
    planted = page.parent / "planted.html"
    planted.write_text(plant_mismatch(page.read_text(), "table"))
    problems = browser_problems(planted, docs)
    assert len(problems) == 1 and "page shows" in problems[0], problems
    shutil.rmtree(page.parent)
