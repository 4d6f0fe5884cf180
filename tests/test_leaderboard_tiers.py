"""Difficulty tiers, intervals and tie-aware ranks on the leaderboard, and entries from
before tiers: accepted into the continuity column while their splits still hash the same,
rejected with the reason when tampered."""

from __future__ import annotations

import copy
import json
import math
import random
from pathlib import Path

import gymnasium as gym
import pytest

from textgym import leaderboard as lb
from textgym.app import leaderboard_runner as runner
from textgym.app.cli import main
from textgym.leaderboard.standings import headroom
from textgym.leaderboard.stats import (
    bootstrap_mean,
    bootstrap_score,
    cell_intervals,
    percentile_interval,
    shared_ranks,
    wilson,
)
from textgym.registration import env_tiers

CALC = "TextEnv-Calculator-v0"
WIKI = "TextEnv-WikiSearch-v0"
PYTHON = "TextEnv-Python-v0"
EPISODES = 4
OLD_ENTRY = Path(__file__).resolve().parent / "data" / "entry-1-ppo-demo.json"


# ---- the statistics ----------------------------------------------------------------------


def test_wilson_against_hand_computed_values():
    # z = 1.959964, z^2 = 3.841459, n = 200.
    # 0/200: lower 0; upper z^2 / (n + z^2) = 3.841459 / 203.841459 = 0.0188453.
    assert wilson(0, 200) == (0.0, pytest.approx(0.0188453, abs=1e-7))
    # 200/200: lower n / (n + z^2) = 200 / 203.841459 = 0.9811547; upper 1.
    assert wilson(200, 200) == (pytest.approx(0.9811547, abs=1e-7), 1.0)
    # 100/200: centre (0.5 + z^2/400) / (1 + z^2/200) = 0.5; half-width
    # z / (1 + z^2/200) * sqrt(0.25/200 + z^2/160000) = 1.923028 * 0.0356933 = 0.0686392.
    lo, hi = wilson(100, 200)
    assert lo == pytest.approx(0.5 - 0.0686392, abs=1e-6)
    assert hi == pytest.approx(0.5 + 0.0686392, abs=1e-6)
    assert wilson(0, 200)[1] < 0.02 and wilson(1, 1)[0] > 0.2  # never an empty interval
    with pytest.raises(ValueError):
        wilson(3, 2)
    with pytest.raises(ValueError):
        wilson(0, 0)


def test_percentile_interval_takes_the_nearest_ranks():
    # 2000 values 1..2000: the 2.5% point is the 50th, the 97.5% point the 1950th.
    assert percentile_interval(list(range(2000, 0, -1))) == (50, 1950)
    assert percentile_interval([7.0]) == (7.0, 7.0)


def test_bootstrap_mean_is_seeded_and_matches_a_hand_rolled_resample():
    values = [0.0, 1.0, 0.5, 0.25, 1.0]
    # The same resampling written out: 40 resamples from random.Random(3).
    rng = random.Random(3)
    means = sorted(math.fsum(rng.choices(values, k=5)) / 5 for _ in range(40))
    expected = (means[math.ceil(40 * 0.025) - 1], means[math.ceil(40 * 0.975) - 1])
    assert bootstrap_mean(values, resamples=40, seed=3) == expected
    assert bootstrap_mean(values) == bootstrap_mean(values)  # deterministic
    assert bootstrap_mean([0.3] * 10) == (0.3, 0.3)  # no spread, no interval
    # 100 zeros and 100 ones: close to the normal 0.5 +- 1.96 * sqrt(0.25 / 200).
    lo, hi = bootstrap_mean([0.0] * 100 + [1.0] * 100)
    assert lo == pytest.approx(0.5 - 0.0693, abs=0.012) and hi == pytest.approx(
        0.5 + 0.0693, abs=0.012
    )
    # The global RNG is neither used nor disturbed.
    random.seed(1)
    state = random.getstate()
    bootstrap_mean(values)
    assert random.getstate() == state


def test_bootstrap_score_mixes_resampled_envs_and_fixed_penalties():
    assert bootstrap_score([[1.0] * 5, -1.0]) == (0.0, 0.0)
    lo, hi = bootstrap_score([[0.0, 1.0] * 50, [1.0] * 100])
    assert lo < 0.75 < hi and hi - lo < 0.2


def test_ranks_share_on_equal_scores_and_overlapping_intervals():
    ranks = shared_ranks(
        [
            ("b", 0.90, (0.80, 0.95)),
            ("a", 0.90, (0.85, 0.93)),  # equal score: shares rank 1
            ("c", 0.82, (0.79, 0.85)),  # overlaps the leader a: shares rank 1
            ("d", 0.70, (0.60, 0.80)),  # overlaps c, not the leader: a new group
            ("e", 0.65, (0.62, 0.68)),  # overlaps d, its leader: shares rank 4
            ("f", 0.10, (0.05, 0.15)),
        ]
    )
    assert ranks == {"a": 1, "b": 1, "c": 1, "d": 4, "e": 4, "f": 6}
    assert shared_ranks([("x", 1.0, (1.0, 1.0)), ("y", 1.0, (1.0, 1.0))]) == {"x": 1, "y": 1}


# ---- tiers -------------------------------------------------------------------------------


def test_tiers_are_declared_in_the_registry_each_with_its_own_split():
    assert [t.name for t in env_tiers(CALC)] == ["level-0", "level-1", "level-2", "level-3"]
    assert [t.name for t in env_tiers(PYTHON)] == ["level-0", "level-1", "level-2"]
    assert [t.name for t in env_tiers(WIKI)] == ["single-hop", "multi-hop"]
    assert env_tiers("TextEnv-Sentiment-v0") == ()
    infos = lb.EnvInfos()
    for env_id in (CALC, PYTHON, WIKI):
        info = infos(env_id)
        hashes = [t["split_hash"] for t in info["tiers"]]
        assert len(set(hashes)) == len(hashes)  # each tier its own split
        for tier in info["tiers"]:
            env = gym.make(env_id, **tier["kwargs"])
            assert tier["split_hash"] == env.unwrapped.task.split_hash()
            env.close()
    # The default config is unchanged: the continuity column is the old split.
    assert infos(CALC)["split_hash"] == gym.make(CALC).unwrapped.task.split_hash()
    hops = {
        tier["tier"]: {
            len(item.data["path"])
            for item in gym.make(WIKI, **tier["kwargs"]).unwrapped.task.test_items()
        }
        for tier in infos(WIKI)["tiers"]
    }
    assert hops == {"single-hop": {1}, "multi-hop": {2}}


def test_a_pinned_kwarg_drops_the_tiers_that_set_it():
    assert lb.EnvInfos({"level": 2})(CALC)["tiers"] == []
    # A kwarg no tier sets keeps the tiers, made with it.
    turns = lb.EnvInfos({"max_turns": 3})(CALC)["tiers"]
    assert [t["tier"] for t in turns] == ["level-0", "level-1", "level-2", "level-3"]
    assert lb.EnvInfos(tiers=False)(CALC)["tiers"] == []


@pytest.fixture(scope="module")
def tiered():
    """An oracle entry on the calculator: its default config and four tiers."""
    return runner.evaluate_agent("oracle", [CALC], episodes=EPISODES, progress=False, tiers=True)


def test_a_tier_cell_is_checked_against_its_own_split(tiered):
    assert [c.get("tier") for c in tiered["results"]] == [None, *(f"level-{k}" for k in range(4))]
    lb.validate_entry(tiered, episodes=EPISODES)
    swapped = copy.deepcopy(tiered)
    swapped["results"][3]["tier"] = "level-3"  # level 2's episodes claimed for level 3
    swapped["results"].pop(4)
    with pytest.raises(lb.InvalidEntry, match="tier level-3: test-split hash .* level-3 column"):
        lb.validate_entry(swapped, episodes=EPISODES)
    unknown = copy.deepcopy(tiered)
    unknown["results"][1]["tier"] = "level-9"
    with pytest.raises(lb.InvalidEntry, match="has no tier 'level-9'"):
        lb.validate_entry(unknown, episodes=EPISODES)
    edited = copy.deepcopy(tiered)
    edited["results"][4]["metrics"]["success_rate"] = 0.5
    with pytest.raises(lb.InvalidEntry, match="level-3: success_rate .* changed after the run"):
        lb.validate_entry(edited, episodes=EPISODES)


# ---- entries from before tiers (textgym-leaderboard-entry/1) ------------------------------


def _old_entry(tiered) -> dict:
    """The entry as textgym wrote it before tiers: /1, continuity cells only."""
    old = copy.deepcopy(tiered)
    old["schema"] = "textgym-leaderboard-entry/1"
    old["results"] = [c for c in old["results"] if "tier" not in c]
    old["agent"] = {"name": "old", "spec": "oracle", "fingerprint": None}
    return old


def test_an_old_entry_merges_into_the_continuity_column(tiered, tmp_path):
    old = _old_entry(tiered)
    assert lb.validate_entry(old, episodes=EPISODES)["schema"] == "textgym-leaderboard-entry/1"
    runner.run_board(
        ["random"], tmp_path, env_ids=[CALC], episodes=EPISODES, progress=False, chart=False
    )
    (tmp_path / "old.json").write_text(json.dumps(old))
    board, names = lb.merge_entries([tmp_path / "old.json"], tmp_path, chart=False)
    assert names == ["old"]
    merged = next(e for e in board["entries"] if e["agent"]["name"] == "old")
    assert merged == old  # kept exactly as submitted
    cells = [c for c in board["standings"]["cells"] if c["agent"] == "old"]
    assert [(c["env"], c["tier"]) for c in cells] == [(CALC, None)]
    assert cells[0]["interval"] == list(wilson(EPISODES, EPISODES))
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "entry textgym-leaderboard-entry/1" in markdown
    assert "| env (metric) | tier | old | random |" in markdown
    rows = [[c.strip() for c in r.split("|")[1:-1]] for r in markdown.splitlines()]
    rows = [r for r in rows if r and r[0] == "" and r[1].startswith("level-")]
    assert len(rows) == 4 and {r[2] for r in rows} == {"-"}  # old: no tier cells
    # The old entry ranks on the continuity score like any other.
    assert [r["agent"] for r in board["standings"]["ranking"]] == ["old", "random"]


def test_a_tampered_old_entry_is_still_rejected(tiered):
    edited = _old_entry(tiered)
    edited["results"][0]["metrics"]["success_rate"] = 0.5
    with pytest.raises(lb.InvalidEntry, match="changed after the run"):
        lb.validate_entry(edited, episodes=EPISODES)
    moved = _old_entry(tiered)
    moved["results"][0]["split_hash"] = "0" * 64
    with pytest.raises(lb.InvalidEntry, match="test-split hash .* default column"):
        lb.validate_entry(moved, episodes=EPISODES)
    # A /1 entry cannot name a tier: that format has none.
    with_tier = _old_entry(tiered)
    with_tier["results"][0]["tier"] = "level-0"
    with pytest.raises(
        lb.InvalidEntry, match="schema textgym-leaderboard-entry/1: .*'tier' was unexpected"
    ):
        lb.validate_entry(with_tier, episodes=EPISODES)


def test_an_entry_submitted_before_tiers_still_validates():
    """ppo-demo's entry as the official board held it before tiers (schema /1, default
    configs only, whole test splits): it still matches this textgym's default-config
    splits, so it would count in the continuity column."""
    entry = json.loads(OLD_ENTRY.read_text())
    assert entry["schema"] == "textgym-leaderboard-entry/1"
    assert not any("tier" in cell for cell in entry["results"])
    lb.validate_entry(entry)  # whole test splits


def test_a_board_from_before_tiers_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "leaderboard.json").write_text(json.dumps({"schema": "textgym-leaderboard/1"}))
    with pytest.raises(ValueError, match="before difficulty tiers.*merge its old entries"):
        lb.load_board(tmp_path)


# ---- the standings on the board ----------------------------------------------------------


def test_equal_agents_share_a_rank_and_the_json_holds_every_interval(tmp_path):
    board = runner.run_board(
        ["oracle", "oracle", "random"],
        tmp_path,
        env_ids=[CALC, "TextEnv-Sentiment-v0"],
        names=["o1", "o2", "r"],
        episodes=EPISODES,
        progress=False,
    )
    ranking = board["standings"]["ranking"]
    assert [(r["agent"], r["rank"]) for r in ranking] == [("o1", 1), ("o2", 1), ("r", 3)]
    saved = json.loads((tmp_path / "leaderboard.json").read_text())
    assert saved["schema"] == lb.BOARD_SCHEMA and saved["standings"] == board["standings"]
    assert saved["standings"]["method"]["level"] == 0.95
    for row in saved["standings"]["cells"]:
        entry = next(e for e in saved["entries"] if e["agent"]["name"] == row["agent"])
        cell = next(
            c for c in entry["results"] if c["env"] == row["env"] and c.get("tier") == row["tier"]
        )
        assert row["intervals"] == cell_intervals(cell["per_episode"])
        lo, hi = row["interval"]
        assert lo - 1e-12 <= row["value"] <= hi + 1e-12
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| 1 | o1 |" in markdown and "| 1 | o2 |" in markdown and "| 3 | r |" in markdown
    assert "share the rank" in markdown or "shares the rank" in markdown


def test_no_tiers_scores_default_configs_only_and_a_folder_keeps_its_choice(tmp_path, capsys):
    out = tmp_path / "board"
    argv = ["leaderboard", "run", "--agents", "oracle", "--envs", CALC, "--episodes", "2"]
    argv += ["--out", str(out), "--no-chart", "--quiet"]
    assert main([*argv, "--no-tiers"]) == 0
    board = lb.load_board(out)
    assert board["tiers"] is False and board["envs"][0]["tiers"] == []
    assert [c.get("tier") for c in board["entries"][0]["results"]] == [None]
    assert "| level-" not in capsys.readouterr().out
    assert main(argv) == 2  # the same folder with tiers: refused, with what to do
    assert "tiers=False; use another --out" in capsys.readouterr().err


def test_tiers_on_a_pinned_level_are_left_out_and_the_rest_reuse_their_cells(tmp_path):
    cells = tmp_path / "cells"
    kw = {"episodes": 2, "cells_dir": cells, "progress": False, "tiers": True}
    first = runner.evaluate_agent("oracle", [CALC], **kw)
    assert len(first["results"]) == 5 and (cells / "oracle" / f"{CALC}@level-2.json").is_file()
    pinned = runner.evaluate_agent("oracle", [CALC], env_kwargs={"level": 1}, **kw)
    assert [c.get("tier") for c in pinned["results"]] == [None]  # the level is pinned
    again = runner.evaluate_agent("oracle", [CALC], **kw)
    assert again["results"][1:] == first["results"][1:]  # tier cells reused as saved


def test_headroom_places_the_best_trained_entry_between_random_and_the_oracle():
    specs = {"random": "random", "oracle": "oracle", "a": "ppo:runs/a", "b": "hf:b", "c": "ppo:c"}
    board = {
        "envs": [
            {"env": "E-v0", "metric": "success_rate", "tiers": [{"tier": "hard"}]},
            {"env": "F-v0", "metric": "mean_reward", "tiers": []},
            {"env": "G-v0", "metric": "success_rate", "tiers": []},
        ],
        "entries": [{"agent": {"name": n, "spec": s}} for n, s in specs.items()],
    }
    values = {
        ("E-v0", None): {"random": 0.0, "oracle": 1.0, "a": 0.4, "b": 0.7},
        ("E-v0", "hard"): {"random": 0.0, "oracle": 1.0, "a": 0.0},
        ("F-v0", None): {"random": 0.0, "oracle": 0.9, "c": 0.95},
        ("G-v0", None): {"random": 0.0, "oracle": 1.0},
    }
    standings = {
        "cells": [
            {"agent": agent, "env": env, "tier": tier, "value": value}
            for (env, tier), row in values.items()
            for agent, value in row.items()
        ]
    }
    rows = {(r["env"], r["tier"]): r for r in headroom(board, standings)}
    assert rows["E-v0", None]["best_trained"] == "b" and rows["E-v0", None]["verdict"] == "between"
    assert rows["E-v0", "hard"]["verdict"] == "at or below random"
    assert rows["F-v0", None]["verdict"] == "above oracle"
    assert rows["G-v0", None] == {
        "env": "G-v0", "tier": None, "random": 0.0, "oracle": 1.0,
        "best_trained": None, "value": None, "verdict": "no trained entry",
    }  # fmt: skip
