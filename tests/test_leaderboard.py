"""The leaderboard: runs over every env, resumes, writes Markdown that matches its JSON, and
rejects tampered or mismatched submissions with a reason."""

from __future__ import annotations

import copy
import json
import re
from html import escape

import gymnasium as gym
import pytest

import textgym
from textgym import leaderboard as lb
from textgym.agents import SFTConfig
from textgym.agents.train import train_sft
from textgym.app import leaderboard_runner as runner
from textgym.app.cli import main
from textgym.leaderboard.html import write_site
from textgym.leaderboard.records import cell_from_result, env_info
from textgym.leaderboard.report import fmt
from textgym.leaderboard.standings import cell_of
from textgym.leaderboard.tiers import columns as lb_columns
from textgym.registration import env_ids

CALC = "TextEnv-Calculator-v0"
EPISODES = 6


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """One small board over every registered env, shared by the read-only tests."""
    out = tmp_path_factory.mktemp("board")
    runner.run_board(["random", "oracle"], out, episodes=EPISODES, progress=False)
    return out


@pytest.fixture(scope="module")
def entry():
    """A valid oracle entry on the calculator (EPISODES items)."""
    return runner.evaluate_agent("oracle", [CALC], episodes=EPISODES, progress=False)


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Markdown section title -> rows of its table (header and rule excluded); a ``###``
    section is named ``PARENT / TITLE``."""
    out: dict[str, list[list[str]]] = {}
    parent = ""
    for section in re.split(r"\n(?=##+ )", markdown)[1:]:
        heading, _, body = section.partition("\n")
        level, _, title = heading.partition(" ")
        if level == "##":
            parent = title.strip()
        else:
            title = f"{parent} / {title.strip()}"
        rows = [line for line in body.splitlines() if line.startswith("| ")]
        out[title.strip()] = [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]
    return out


def _value(text: str) -> str:
    """The value of a headline cell ``0.900 [0.851, 0.934]``."""
    return text.split(" [")[0]


#: Decimals each metric is printed with: rates are k/n, rewards may be continuous, counts
#: per episode need a hundredth at most. Throughput is checked by significant figures.
PRINTED_DECIMALS = {
    "success_rate": 3,
    "invalid_call_rate": 3,
    "mean_reward": 4,
    "mean_tool_calls": 2,
    "mean_agent_tokens": 1,
}


def _assert_printed(text: str, value: float, metric: str) -> None:
    """``text`` is ``value`` rounded to the precision it is printed at, and that precision
    suits ``metric``."""
    decimals = len(text.partition(".")[2])
    assert abs(float(text) - value) <= 0.5 * 10**-decimals + 1e-9, (text, value, metric)
    if metric == "episodes_per_second":
        integer_digits = len(text.partition(".")[0].lstrip("-0"))
        significant = len(text.replace(".", "").lstrip("-0"))
        assert significant <= max(3, integer_digits), (text, value)
        assert value < 100 or decimals == 0, (text, value)
    else:
        assert decimals == PRINTED_DECIMALS[metric], (text, metric)


def test_fmt_prints_each_metric_at_its_precision():
    assert fmt(1559.3113, "episodes_per_second") == "1559"
    assert fmt(37.9566, "episodes_per_second") == "38.0"
    assert fmt(9.4852, "episodes_per_second") == "9.49"
    assert fmt(0.12345, "episodes_per_second") == "0.123"
    assert fmt(0.0, "episodes_per_second") == "0"
    assert fmt(0.835, "success_rate") == "0.835"
    assert fmt(-0.41666, "mean_reward") == "-0.4167"
    assert fmt(1.3651, "mean_tool_calls") == "1.37"
    assert fmt(61.495, "mean_agent_tokens") == "61.5"
    assert fmt(None, "success_rate") == "-"
    assert fmt(0.5) == "0.5000"  # no metric: the old 4 decimals
    # And the round trip catches a wrong value or a precision that does not suit.
    _assert_printed("1559", 1559.3113, "episodes_per_second")
    with pytest.raises(AssertionError):
        _assert_printed("1559.3113", 1559.3113, "episodes_per_second")
    with pytest.raises(AssertionError):
        _assert_printed("0.836", 0.835, "success_rate")
    with pytest.raises(AssertionError):
        _assert_printed("0.8", 0.8, "mean_reward")


def test_board_covers_every_env_and_markdown_matches_json(board_dir):
    board = json.loads((board_dir / "leaderboard.json").read_text())
    assert [e["env"] for e in board["envs"]] == env_ids()
    assert {e["agent"]["name"] for e in board["entries"]} == {"random", "oracle"}
    for key in ("textgym_version", "git_commit", "seed", "hardware", "date"):
        assert key in board["provenance"]
    assert board["provenance"]["hardware"]["cpu_count"] >= 1
    assert (board_dir / "leaderboard.png").stat().st_size > 1000

    markdown = (board_dir / "leaderboard.md").read_text()
    tables = _tables(markdown)
    by_name = {e["agent"]["name"]: e for e in board["entries"]}
    agents = re.search(r"\| env \(metric\) \| tier \| (.*) \|", markdown).group(1).split(" | ")
    assert set(agents) == set(by_name)
    rows = tables["Headline"]
    columns = [(env, tier, col) for env in board["envs"] for tier, col in lb_columns(env)]
    assert len(rows) == len(columns) > len(board["envs"])  # the tiers are in the headline
    for row, (env, tier, col) in zip(rows, columns):
        assert row[1] == (tier or "default")
        for name, text in zip(agents, row[2:]):
            cell = cell_of(by_name[name], env["env"], tier)
            _assert_printed(_value(text), cell["metrics"][col["metric"]], col["metric"])
    for env in board["envs"]:
        for tier, _ in lb_columns(env):
            for row in tables[f"{env['env']} / {tier or 'default'}"]:
                cell = cell_of(by_name[row[0]], env["env"], tier)
                assert len(row[1:]) == len(lb.METRICS)
                for text, metric in zip(row[1:], lb.METRICS):
                    _assert_printed(text, cell["metrics"][metric], metric)
    # The oracle ranks first and beats random on every env.
    assert tables["Ranking"][0][:2] == ["1", "oracle"] and agents[0] == "oracle"
    for env in board["envs"]:
        oracle, random = (
            {c["env"]: c for c in by_name[n]["results"]}[env["env"]]["metrics"][env["metric"]]
            for n in ("oracle", "random")
        )
        assert oracle > random


def test_every_entry_on_the_board_validates(board_dir):
    board = json.loads((board_dir / "leaderboard.json").read_text())
    for entry in board["entries"]:
        lb.validate_entry(entry, episodes=EPISODES)


def test_same_settings_give_the_same_scores(board_dir, entry):
    board = json.loads((board_dir / "leaderboard.json").read_text())
    oracle = next(e for e in board["entries"] if e["agent"]["name"] == "oracle")
    calc = next(c for c in oracle["results"] if c["env"] == CALC)
    assert calc["per_episode"] == entry["results"][0]["per_episode"]


def test_rerun_reuses_finished_cells_and_resumes_after_a_crash(tmp_path, monkeypatch):
    import textgym.app.specs

    envs = [CALC, "TextEnv-Sentiment-v0"]
    calls: list[str] = []
    real = textgym.app.specs.make_agent

    def counting(spec, env, **kwargs):
        calls.append(env.spec.id)
        if env.spec.id == "TextEnv-Sentiment-v0" and len(calls) == 6:
            raise RuntimeError("killed")  # the run dies on its sixth cell
        return real(spec, env, **kwargs)

    monkeypatch.setattr(textgym.app.specs, "make_agent", counting)
    with pytest.raises(RuntimeError, match="killed"):
        runner.run_board(["oracle"], tmp_path, env_ids=envs, episodes=3, progress=False)
    # The calculator's default config and its four tiers were finished and kept.
    assert (tmp_path / "cells" / "oracle" / f"{CALC}.json").is_file()
    assert (tmp_path / "cells" / "oracle" / f"{CALC}@level-3.json").is_file()
    runner.run_board(["oracle"], tmp_path, env_ids=envs, episodes=3, progress=False)
    calc_cells = [CALC] * 5  # default + levels 0-3
    assert calls == [*calc_cells, "TextEnv-Sentiment-v0", "TextEnv-Sentiment-v0"]
    # A third run recomputes nothing; another agent adds only its own cells.
    runner.run_board(["oracle", "random"], tmp_path, env_ids=envs, episodes=3, progress=False)
    assert calls[7:] == [*calc_cells, "TextEnv-Sentiment-v0"]
    board = lb.load_board(tmp_path)
    assert [e["agent"]["name"] for e in board["entries"]] == ["oracle", "random"]


def test_a_board_refuses_other_settings_in_the_same_folder(tmp_path):
    runner.run_board(["random"], tmp_path, env_ids=[CALC], episodes=2, progress=False, chart=False)
    with pytest.raises(ValueError, match="episodes=2"):
        runner.run_board(["random"], tmp_path, env_ids=[CALC], episodes=3, progress=False)
    with pytest.raises(ValueError, match="ranks"):
        runner.run_board(["random"], tmp_path, env_ids=["TextEnv-Sentiment-v0"], episodes=2)


# ---- submissions -------------------------------------------------------------------------


def _rejects(entry, match, **kwargs):
    with pytest.raises(lb.InvalidEntry, match=match):
        lb.validate_entry(entry, episodes=EPISODES, **kwargs)


def test_a_valid_entry_passes(entry):
    assert lb.validate_entry(entry, episodes=EPISODES)["agent"]["name"] == "oracle"


def test_an_entry_from_a_changed_test_split_is_rejected(entry):
    # A real evaluation, on the calculator with another task seed: a different test split.
    env = gym.make(CALC, seed=1)
    result = textgym.evaluate(
        env, textgym.agents.OracleAgent(env), episodes=EPISODES, progress=False
    )
    info = dict(env_info(CALC), split_hash=env.unwrapped.task.split_hash())
    tampered = copy.deepcopy(entry)
    tampered["results"] = [cell_from_result(result, info, seed=0, seconds=1.0)]
    _rejects(tampered, "test-split hash .* different test split")


def test_an_entry_for_another_env_version_is_rejected(entry):
    renamed = copy.deepcopy(entry)
    renamed["results"][0]["env"] = "TextEnv-Calculator-v1"
    _rejects(renamed, r"TextEnv-Calculator-v1.*not registered.*TextEnv-Calculator-v0")
    bumped = copy.deepcopy(entry)
    bumped["results"][0]["env_version"] = 1
    _rejects(bumped, "env version 1 does not match the registered version 0")


def test_edited_numbers_are_rejected(entry):
    edited = copy.deepcopy(entry)
    edited["results"][0]["metrics"]["mean_tool_calls"] = 0.5
    _rejects(edited, "mean_tool_calls .* changed after the run")
    cut = copy.deepcopy(entry)
    cut["results"][0]["per_episode"]["reward"].pop()
    _rejects(cut, "per-episode lists")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda e: e.pop("provenance"), "'provenance' is a required property"),
        (lambda e: e["results"][0].update(episodes="6"), "results/0/episodes: '6' is not of"),
        (lambda e: e["results"][0]["metrics"].update(success_rate=1.5), "1.5 is greater"),
        (lambda e: e.update(schema="textgym-leaderboard-entry/9"), "cannot read it"),
        (lambda e: e["results"].append(copy.deepcopy(e["results"][0])), "appears twice"),
        (lambda e: e["results"][0].update(episodes=5), "5 episodes; the board ranks on 6"),
    ],
)
def test_malformed_entries_are_rejected_with_the_reason(entry, change, match):
    bad = copy.deepcopy(entry)
    change(bad)
    _rejects(bad, match)


def test_merge_is_all_or_nothing(board_dir, entry, tmp_path):
    good = dict(copy.deepcopy(entry), agent={"name": "mine", "spec": "oracle"})
    bad = copy.deepcopy(good)
    bad["agent"]["name"] = "tampered"
    bad["results"][0]["split_hash"] = "0" * 64
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    before = (board_dir / "leaderboard.json").read_text()
    with pytest.raises(lb.InvalidEntry, match="bad.json: TextEnv-Calculator-v0: test-split"):
        lb.merge_entries([tmp_path / "good.json", tmp_path / "bad.json"], board_dir)
    assert (board_dir / "leaderboard.json").read_text() == before


def test_submit_then_merge_through_the_cli(board_dir, tmp_path, capsys, monkeypatch):
    """The third-party path: a module:callable agent, one command to an entry, one to merge."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    out = tmp_path / "entry.json"
    args = [
        "leaderboard",
        "submit",
        "--agent",
        "text_function_agent:make_agent",
        "--name",
        "rules",
        "--envs",
        CALC,
        "--episodes",
        str(EPISODES),
        "-o",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    entry = json.loads(out.read_text())
    assert entry["results"][0]["metrics"]["success_rate"] == 1.0
    assert main(["leaderboard", "validate", str(out), "--episodes", str(EPISODES)]) == 0
    board = tmp_path / "board"
    board.mkdir()
    for name in ("leaderboard.json",):
        (board / name).write_text((board_dir / name).read_text())
    assert main(["leaderboard", "merge", str(out), "--out", str(board), "--no-chart"]) == 0
    markdown = (board / "leaderboard.md").read_text()
    agents = re.search(r"\| env \(metric\) \| tier \| (.*) \|", markdown).group(1).split(" | ")
    at = agents.index("rules") + 2
    rows = _tables(markdown)["Headline"]
    calc_rows = 5  # a calculator specialist: default and four tiers, nothing elsewhere
    assert {_value(r[at]) for r in rows[:calc_rows]} == {"1.000"}
    assert {r[at] for r in rows[calc_rows:]} == {"-"}

    tampered = json.loads(out.read_text())
    tampered["results"][0]["env_version"] = 3
    out.write_text(json.dumps(tampered))
    capsys.readouterr()
    assert main(["leaderboard", "merge", str(out), "--out", str(board)]) == 2
    assert "env version 3 does not match" in capsys.readouterr().err


def test_cli_run_prints_the_headline(tmp_path, capsys):
    code = main(
        [
            "leaderboard",
            "run",
            "--agents",
            "oracle",
            "--envs",
            CALC,
            "--episodes",
            "2",
            "--out",
            str(tmp_path),
            "--quiet",
            "--no-chart",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert re.search(r"\| 1 \| oracle \| 1\.0000 \|", printed)  # the ranking
    assert re.search(r"\| level-3 \| 1\.000 \[0\.342, 1\.000\] \|", printed)  # a tier
    assert not (tmp_path / "leaderboard.png").exists()


def test_cli_reports_unknown_envs_and_specs(tmp_path, capsys):
    assert main(["leaderboard", "run", "--envs", "TextEnv-Nope-v0", "--out", str(tmp_path)]) == 2
    assert "unknown env id" in capsys.readouterr().err
    assert (
        main(
            [
                "leaderboard",
                "run",
                "--agents",
                "ppo:/nonexistent",
                "--envs",
                CALC,
                "--episodes",
                "1",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 2
    )
    assert "no model folder" in capsys.readouterr().err


def test_hf_spec_ranks_a_local_causal_lm(tmp_path):
    """``hf:PATH``: any local causal LM with its own tokenizer, zero-shot through text."""
    import torch
    from transformers import ByT5Tokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = ByT5Tokenizer()  # no protocol markers: the model writes them as text
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=128,
        n_embd=16,
        n_layer=1,
        n_head=2,
        bos_token_id=None,
        eos_token_id=None,  # no EOS: every turn runs to max_new_tokens
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        GPT2LMHeadModel(config).save_pretrained(tmp_path / "lm")
    tokenizer.save_pretrained(tmp_path / "lm")
    entry = runner.evaluate_agent(f"hf:{tmp_path / 'lm'}", [CALC], episodes=2, progress=False)
    cell = entry["results"][0]
    assert cell["episodes"] == 2 and cell["metrics"]["mean_agent_tokens"] > 0
    assert entry["agent"]["fingerprint"] and len(entry["agent"]["fingerprint"]) == 64
    lb.validate_entry(entry, episodes=2)


def test_cut_turn_stops_at_the_first_marker():
    from textgym.agents.hf_agent import cut_turn

    assert cut_turn("<request><Calculator>1+1<call>2<response>") == "<request><Calculator>1+1<call>"
    assert cut_turn("Result=2<submit> more") == "Result=2<submit>"
    assert cut_turn("no marker") == "no marker"


# ---- the chart ---------------------------------------------------------------------------


def _synthetic_board() -> dict:
    """Headline values only: a success rate of 0 and negative mean rewards, as random gets
    on Sentiment ([-1, 1]) and in a zero-sum race; one entry misses a cell."""

    def cells(**values):
        # Four episodes each, all at the headline value: per-episode lists the intervals
        # come from.
        return [
            {
                "env": env,
                "metric": metric,
                "metrics": {metric: value},
                "per_episode": {"reward": [value] * 4, "success": [value == 1.0] * 4},
            }
            for (env, metric), value in zip(envs, values.values())
        ]

    envs = [
        (CALC, "success_rate"),
        ("TextEnv-Sentiment-v0", "mean_reward"),
        ("TextEnv-Race-v0", "mean_reward"),
    ]
    return {
        "envs": [{"env": env, "metric": metric} for env, metric in envs],
        "entries": [
            {"agent": {"name": "oracle"}, "results": cells(a=1.0, b=0.8387, c=0.25)},
            {"agent": {"name": "random"}, "results": cells(a=0.0, b=-0.42, c=-0.25)},
            {"agent": {"name": "rules"}, "results": cells(a=1.0)},
        ],
    }


def test_value_limits_hold_zero_negative_values_and_label_room():
    from textgym.leaderboard.report import value_limits

    lo, hi = value_limits([1.0, 0.0, -0.42])
    assert lo < -0.42 and hi > 1.0
    lo, hi = value_limits([0.0, 0.5])
    assert lo < 0.0 < hi  # a zero score's mark sits inside the axis
    lo, hi = value_limits([-1.0, -0.5])
    assert lo < -1.0 and hi >= 0.0  # all negative: zero stays in view
    assert value_limits([]) == value_limits([0.0])
    lo, hi = value_limits([0.0])
    assert lo < 0.0 < hi  # an all-zero board still has an axis


def test_chart_labels_every_bar_and_shows_zero_and_negative_scores(tmp_path):
    import matplotlib.pyplot as plt

    from textgym.leaderboard.report import _chart, chart_figure

    board = _synthetic_board()
    fig = chart_figure(board)
    try:
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.texts]
        # One label per (agent, env): values at the metric's precision, "-" for the gap.
        assert sorted(labels) == sorted(
            ["1.000", "0.8387", "0.2500", "0.000", "-0.4200", "-0.2500", "1.000", "-", "-"]
        )
        lo, hi = ax.get_ylim()
        assert lo < -0.42 and hi > 1.0
        # The zero success rate is drawn (a flat mark at 0), not an invisible bar.
        marks = [c for c in ax.collections if len(c.get_segments()) == 1]
        assert any(
            (seg[:, 1] == 0.0).all() and seg[1, 0] - seg[0, 0] > 0
            for c in marks
            for seg in c.get_segments()
        )
        zero_lines = [line for line in ax.lines if list(line.get_ydata()) == [0.0, 0.0]]
        assert zero_lines  # the zero line
    finally:
        plt.close(fig)
    _chart(board, tmp_path / "leaderboard.png")
    data = (tmp_path / "leaderboard.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert not list(tmp_path.glob(".*.tmp.png"))  # the temporary file was renamed


# ---- merging into a fresh folder ---------------------------------------------------------


def test_the_submit_hint_merges_in_a_fresh_folder(tmp_path, capsys, monkeypatch):
    """`submit` prints "merge it with `textgym leaderboard merge FILE`": that command, run
    as printed in a folder with no board, starts one."""
    monkeypatch.chdir(tmp_path)
    args = ["leaderboard", "submit", "--agent", "oracle", "--name", "o", "--envs", CALC]
    assert main([*args, "--episodes", "5", "-o", "o.json", "--quiet"]) == 0
    hint = re.search(r"merge it with `textgym (.+?)`", capsys.readouterr().out)
    assert hint, "submit no longer prints the merge hint"
    assert main(hint.group(1).split()) == 0
    board = lb.load_board(tmp_path / "leaderboard")
    assert [e["env"] for e in board["envs"]] == [CALC]
    assert (board["episodes"], board["seed"]) == (5, 0)
    assert [e["agent"]["name"] for e in board["entries"]] == ["o"]
    assert (tmp_path / "leaderboard" / "leaderboard.md").is_file()
    # The new board is an ordinary one: `run` adds an agent under the same settings.
    runner.run_board(
        ["random"], tmp_path / "leaderboard", env_ids=[CALC], episodes=5, progress=False
    )
    names = [e["agent"]["name"] for e in lb.load_board(tmp_path / "leaderboard")["entries"]]
    assert names == ["o", "random"]


def test_merge_into_a_fresh_folder_takes_whole_splits_and_registry_order(entry, tmp_path):
    """Entries over whole test splits make a board with episodes=None; several entries
    make one board over the union of their envs, in registry order."""
    sentiment = "TextEnv-Sentiment-v0"
    full = runner.evaluate_agent("oracle", [sentiment], name="full", progress=False)
    (tmp_path / "full.json").write_text(json.dumps(full))
    board, names = lb.merge_entries([tmp_path / "full.json"], tmp_path / "a", chart=False)
    assert board["episodes"] is None and names == ["full"]

    calc_only = dict(copy.deepcopy(entry), agent={"name": "calc", "spec": "oracle"})
    sentiment_only = runner.evaluate_agent(
        "random", [sentiment], name="senti", episodes=EPISODES, progress=False
    )
    (tmp_path / "senti.json").write_text(json.dumps(sentiment_only))
    (tmp_path / "calc.json").write_text(json.dumps(calc_only))
    board, names = lb.merge_entries(
        [tmp_path / "senti.json", tmp_path / "calc.json"], tmp_path / "b", chart=False
    )
    order = env_ids()
    assert [e["env"] for e in board["envs"]] == sorted([CALC, sentiment], key=order.index)
    assert board["episodes"] == EPISODES and names == ["senti", "calc"]


def test_merge_into_a_fresh_folder_still_rejects_a_bad_entry(entry, tmp_path):
    bad = copy.deepcopy(entry)
    bad["results"][0]["split_hash"] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(lb.InvalidEntry, match="test-split hash"):
        lb.merge_entries([tmp_path / "bad.json"], tmp_path / "board")
    assert not (tmp_path / "board").exists()  # nothing written
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(lb.InvalidEntry, match="not JSON"):
        lb.merge_entries([tmp_path / "junk.json"], tmp_path / "board")


# ---- env kwargs --------------------------------------------------------------------------


def test_env_kwargs_change_the_split_hash_and_are_not_reused_across(tmp_path, monkeypatch):
    import textgym.app.specs

    made: list[dict] = []
    real_make = gym.make

    def recording_make(env_id, **kwargs):
        made.append(dict(kwargs))
        return real_make(env_id, **kwargs)

    evaluated: list[int] = []
    real_agent = textgym.app.specs.make_agent

    def counting_agent(spec, env, **kwargs):
        evaluated.append(env.unwrapped.task.config()["level"])
        return real_agent(spec, env, **kwargs)

    monkeypatch.setattr(gym, "make", recording_make)
    monkeypatch.setattr(textgym.app.specs, "make_agent", counting_agent)
    cells = tmp_path / "cells"
    level0 = runner.evaluate_agent("oracle", [CALC], episodes=3, cells_dir=cells, progress=False)
    level1 = runner.evaluate_agent(
        "oracle", [CALC], episodes=3, cells_dir=cells, progress=False, env_kwargs={"level": 1}
    )
    assert {"level": 1} in made  # the kwargs reach gym.make
    hash0, hash1 = (e["results"][0]["split_hash"] for e in (level0, level1))
    assert hash0 != hash1
    assert hash1 == real_make(CALC, level=1).unwrapped.task.split_hash()
    assert evaluated == [0, 1]  # the level-0 cell was not reused for level 1
    saved = json.loads((cells / "oracle" / f"{CALC}.json").read_text())
    assert saved["key"]["env_kwargs"] == {"level": 1}
    # Back to level 0: the saved cell is level 1's, so it is recomputed, then reused.
    again = runner.evaluate_agent("oracle", [CALC], episodes=3, cells_dir=cells, progress=False)
    assert again["results"][0]["split_hash"] == hash0 and evaluated == [0, 1, 0]
    runner.evaluate_agent("oracle", [CALC], episodes=3, cells_dir=cells, progress=False)
    assert evaluated == [0, 1, 0]
    # The entry validates against the split its kwargs make, and only that one.
    lb.validate_entry(level1, episodes=3, env_infos=lb.EnvInfos({"level": 1}))
    with pytest.raises(lb.InvalidEntry, match="test-split hash"):
        lb.validate_entry(level1, episodes=3)


def test_a_board_records_its_env_kwargs_and_keeps_them(tmp_path):
    board = runner.run_board(
        ["oracle"],
        tmp_path,
        env_ids=[CALC],
        episodes=3,
        progress=False,
        chart=False,
        env_kwargs={"level": 1},
    )
    assert board["env_kwargs"] == {"level": 1}
    assert board["envs"][0]["split_hash"] == gym.make(CALC, level=1).unwrapped.task.split_hash()
    assert '**{"level": 1}' in (tmp_path / "leaderboard.md").read_text()
    with pytest.raises(ValueError, match="env kwargs"):
        runner.run_board(["oracle"], tmp_path, env_ids=[CALC], episodes=3, progress=False)
    # A board made before env kwargs existed (no field) is a board without kwargs.
    plain = tmp_path / "plain"
    runner.run_board(["random"], plain, env_ids=[CALC], episodes=3, progress=False, chart=False)
    old = lb.load_board(plain)
    del old["env_kwargs"]
    (plain / "leaderboard.json").write_text(json.dumps(old))
    board = runner.run_board(["oracle"], plain, env_ids=[CALC], episodes=3, progress=False)
    assert [e["agent"]["name"] for e in board["entries"]] == ["random", "oracle"]


def test_a_trained_entry_records_how_it_was_made_and_trained(tmp_path):
    """Provenance of a trained entry: the submit command line, the trainer's command given
    with --trained-by, and the settings the model's run folder recorded."""
    train_sft(CALC, tmp_path / "sft", SFTConfig(steps=2), progress=False)
    out = tmp_path / "entry.json"
    trainer = "textgym train sft --env TextEnv-Calculator-v0 --steps 2 --out sft"
    args = ["leaderboard", "submit", "--agent", f"ppo:{tmp_path / 'sft'}", "--name", "tiny",
            "--envs", CALC, "--episodes", "2", "--no-tiers", "--trained-by", trainer,
            "-o", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    entry = json.loads(out.read_text())
    made = entry["provenance"]
    assert made["command"].startswith("textgym leaderboard submit --agent ppo:")
    assert made["training"]["command"] == trainer
    assert made["training"]["run"]["kind"] == "sft"
    assert made["training"]["run"]["env"] == CALC
    assert main(["leaderboard", "validate", str(out), "--episodes", "2"]) == 0

    # Without --trained-by the run's settings are still kept; a random agent has none.
    again = runner.evaluate_agent(f"ppo:{tmp_path / 'sft'}", [CALC], episodes=1, progress=False)
    assert again["provenance"]["training"] == {"command": None, "run": made["training"]["run"]}
    assert (
        "training"
        not in runner.evaluate_agent("random", [CALC], episodes=1, progress=False)["provenance"]
    )
    broken = json.loads(out.read_text())
    broken["provenance"]["training"] = {"command": 3, "run": None}
    with pytest.raises(lb.InvalidEntry, match="command"):
        lb.validate_entry(broken, episodes=2)

    board = tmp_path / "board"
    runner.run_board(
        ["random"], board, env_ids=[CALC], episodes=2, progress=False, chart=False, tiers=False
    )
    assert main(["leaderboard", "merge", str(out), "--out", str(board), "--no-chart"]) == 0
    page = write_site(board, tmp_path / "site").read_text()
    assert escape(trainer) in page and "sft on TextEnv-Calculator-v0" in page
