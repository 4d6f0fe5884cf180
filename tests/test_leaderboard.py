"""The leaderboard: runs over every env, resumes, writes Markdown that matches its JSON, and
rejects tampered or mismatched submissions with a reason."""

from __future__ import annotations

import copy
import json
import re

import gymnasium as gym
import pytest

import textgym
from textgym import leaderboard as lb
from textgym.cli import main
from textgym.leaderboard.records import cell_from_result, env_info
from textgym.leaderboard.report import fmt
from textgym.registration import env_ids

CALC = "TextEnv-Calculator-v0"
EPISODES = 6


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """One small board over every registered env, shared by the read-only tests."""
    out = tmp_path_factory.mktemp("board")
    lb.run_board(["random", "oracle"], out, episodes=EPISODES, progress=False)
    return out


@pytest.fixture(scope="module")
def entry():
    """A valid oracle entry on the calculator (EPISODES items)."""
    return lb.evaluate_agent("oracle", [CALC], episodes=EPISODES, progress=False)


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Markdown section title -> rows of its table (header and rule excluded)."""
    out: dict[str, list[list[str]]] = {}
    for section in markdown.split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        rows = [line for line in body.splitlines() if line.startswith("| ")]
        out[title.strip()] = [[c.strip() for c in r.strip("|").split("|")] for r in rows[1:]]
    return out


def test_board_covers_every_env_and_markdown_matches_json(board_dir):
    board = json.loads((board_dir / "leaderboard.json").read_text())
    assert [e["env"] for e in board["envs"]] == env_ids()
    assert {e["agent"]["name"] for e in board["entries"]} == {"random", "oracle"}
    for key in ("textgym_version", "git_commit", "seed", "hardware", "date"):
        assert key in board["provenance"]
    assert board["provenance"]["hardware"]["cpu_count"] >= 1
    assert (board_dir / "leaderboard.png").stat().st_size > 1000

    tables = _tables((board_dir / "leaderboard.md").read_text())
    by_name = {e["agent"]["name"]: e for e in board["entries"]}
    headline = {row[0]: row[1:] for row in tables["Headline"]}
    assert set(headline) == set(by_name)
    for name, values in headline.items():
        cells = {c["env"]: c for c in by_name[name]["results"]}
        expected = [fmt(cells[e["env"]]["metrics"][e["metric"]]) for e in board["envs"]]
        assert values == expected
    for env in board["envs"]:
        for row in tables[env["env"]]:
            cell = {c["env"]: c for c in by_name[row[0]]["results"]}[env["env"]]
            assert row[1:] == [fmt(cell["metrics"][m]) for m in lb.METRICS]
    # The oracle ranks first and beats random on every env.
    assert tables["Headline"][0][0] == "oracle"
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
    import textgym.specs

    envs = [CALC, "TextEnv-Sentiment-v0"]
    calls: list[str] = []
    real = textgym.specs.make_agent

    def counting(spec, env, **kwargs):
        calls.append(env.spec.id)
        if env.spec.id == "TextEnv-Sentiment-v0" and len(calls) == 2:
            raise RuntimeError("killed")  # the run dies on its second cell
        return real(spec, env, **kwargs)

    monkeypatch.setattr(textgym.specs, "make_agent", counting)
    with pytest.raises(RuntimeError, match="killed"):
        lb.run_board(["oracle"], tmp_path, env_ids=envs, episodes=3, progress=False)
    assert (tmp_path / "cells" / "oracle" / f"{CALC}.json").is_file()
    lb.run_board(["oracle"], tmp_path, env_ids=envs, episodes=3, progress=False)
    assert calls == [CALC, "TextEnv-Sentiment-v0", "TextEnv-Sentiment-v0"]
    # A third run recomputes nothing; another agent adds only its own cells.
    lb.run_board(["oracle", "random"], tmp_path, env_ids=envs, episodes=3, progress=False)
    assert calls[3:] == envs
    board = lb.load_board(tmp_path)
    assert [e["agent"]["name"] for e in board["entries"]] == ["oracle", "random"]


def test_a_board_refuses_other_settings_in_the_same_folder(tmp_path):
    lb.run_board(["random"], tmp_path, env_ids=[CALC], episodes=2, progress=False, chart=False)
    with pytest.raises(ValueError, match="episodes=2"):
        lb.run_board(["random"], tmp_path, env_ids=[CALC], episodes=3, progress=False)
    with pytest.raises(ValueError, match="ranks"):
        lb.run_board(["random"], tmp_path, env_ids=["TextEnv-Sentiment-v0"], episodes=2)


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
    row = next(r for r in _tables(markdown)["Headline"] if r[0] == "rules")
    assert row[1] == "1.0000" and set(row[2:]) == {"-"}  # a calculator specialist

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
    assert re.search(r"\| oracle \| 1\.0000 \|", printed)
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
    entry = lb.evaluate_agent(f"hf:{tmp_path / 'lm'}", [CALC], episodes=2, progress=False)
    cell = entry["results"][0]
    assert cell["episodes"] == 2 and cell["metrics"]["mean_agent_tokens"] > 0
    assert entry["agent"]["fingerprint"] and len(entry["agent"]["fingerprint"]) == 64
    lb.validate_entry(entry, episodes=2)


def test_cut_turn_stops_at_the_first_marker():
    from textgym.agents.hf_agent import cut_turn

    assert cut_turn("<request><Calculator>1+1<call>2<response>") == "<request><Calculator>1+1<call>"
    assert cut_turn("Result=2<submit> more") == "Result=2<submit>"
    assert cut_turn("no marker") == "no marker"
