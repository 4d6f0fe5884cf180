"""The CLI a user meets: one parser per command with its defaults shown, no abbreviations,
the failing command's usage on a typo, every PPOConfig field as a flag, --env-kwargs,
eval --show / --save-episodes, and multi-agent ids in eval and play."""

from __future__ import annotations

import dataclasses
import io
import json

import gymnasium as gym
import pytest

import textgym
from textgym.agents import OracleAgent, PPOConfig, SFTConfig
from textgym.app.cli import build_parser, main

ENV = "TextEnv-Calculator-v0"


def _refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_abbreviations_are_refused_with_a_suggestion(capsys):
    err = _refused(["eval", "--agent", "oracle", "--env", ENV, "--episode", "3"], capsys)
    assert "unrecognized arguments: --episode 3" in err
    assert "did you mean --episode -> --episodes" in err


def test_a_typo_prints_the_usage_of_the_command_that_failed(capsys):
    err = _refused(["train", "ppo", "--env", ENV, "--out", "x", "--stpes", "3"], capsys)
    assert err.startswith("usage: textgym train ppo")
    err = _refused(["evl"], capsys)
    assert "invalid choice: 'evl'" in err and "did you mean 'eval'?" in err


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["train", "ppo", "--env", ENV, "--out", "x", "--steps", "5"], "--steps"),
        (["train", "sft", "--env", ENV, "--out", "x", "--iterations", "5"], "--iterations"),
        (["train", "sft", "--env", ENV, "--out", "x", "--resume"], "--resume"),
    ],
)
def test_each_trainer_refuses_the_flags_of_the_others(argv, flag, capsys):
    assert f"unrecognized arguments: {flag}" in _refused(argv, capsys)


def _help(argv, capsys) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_help_shows_every_config_field_with_its_default(capsys):
    text = _help(["train", "ppo"], capsys)
    for field in dataclasses.fields(PPOConfig):
        assert "--" + field.name.replace("_", "-") in text
    assert "--clip-range FLOAT policy and value clipping (TRL's) (default: 0.2)" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    # Switches show their default as on or off.
    assert "--no-only-positive-advantages" in text
    assert "(default: off)" in text and "(default: on)" in text
    assert "(default: True)" not in text
    text = _help(["train", "sft"], capsys)
    assert "--steps INT gradient steps (default: 300)" in text
    assert "--clip-range" not in text


@pytest.mark.parametrize("field", dataclasses.fields(PPOConfig), ids=lambda f: f.name)
def test_every_ppo_config_field_is_settable_from_train_ppo(field):
    flag = "--" + field.name.replace("_", "-")
    if isinstance(field.default, bool):
        argv, want = [f"--no-{flag[2:]}" if field.default else flag], not field.default
    else:
        want = {"lr_schedule": "linear", "kl_estimator": "k3"}.get(field.name, field.default * 2)
        argv = [flag, str(want)]
    args = build_parser().parse_args(["train", "ppo", "--env", ENV, "--out", "x", *argv])
    assert getattr(args, field.name) == want


@pytest.mark.parametrize("field", dataclasses.fields(SFTConfig), ids=lambda f: f.name)
def test_every_sft_config_field_is_settable_from_train_sft(field):
    flag = "--" + field.name.replace("_", "-")
    args = build_parser().parse_args(
        ["train", "sft", "--env", ENV, "--out", "x", flag, str(field.default * 2)]
    )
    assert getattr(args, field.name) == field.default * 2


def _eval(argv, capsys) -> dict:
    assert main(["eval", *argv, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_env_kwargs_reach_the_env(tmp_path, capsys):
    level0, level2 = tmp_path / "l0.jsonl", tmp_path / "l2.jsonl"
    base = ["--agent", "oracle", "--env", ENV, "--episodes", "3"]
    assert _eval([*base, "--save-episodes", str(level0)], capsys)["env_kwargs"] == {}
    summary = _eval([*base, "--env-kwargs", '{"level": 2}', "--save-episodes", str(level2)],
                    capsys)
    assert summary["env_kwargs"] == {"level": 2} and summary["success_rate"] == 1.0
    questions = [[json.loads(line)["text"].splitlines()[2] for line in path.open()]
                 for path in (level0, level2)]
    assert questions[0] != questions[1]


def test_eval_env_kwargs_must_be_a_json_object(capsys):
    assert main(["eval", "--agent", "oracle", "--env", ENV, "--env-kwargs", "[1]"]) == 2
    assert "must be a JSON object" in capsys.readouterr().err


def test_eval_save_episodes_writes_text_tokens_rewards_and_tool_calls(tmp_path, capsys):
    path = tmp_path / "episodes.jsonl"
    _eval(["--agent", "oracle", "--env", ENV, "--episodes", "4", "--save-episodes", str(path)],
          capsys)
    records = [json.loads(line) for line in path.open()]
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    env = gym.make(ENV)
    for record in records:
        assert record["success"] and record["rewards"][-1] == 1.0
        assert record["tool_calls"][0]["name"] == "Calculator"
        assert len(record["tokens"]) == len(record["agent_mask"])
        assert env.unwrapped.tokenizer.decode(record["tokens"]) == record["text"]
        assert "<call>" in record["text"] and record["text"].endswith("<submit>")
    assert not path.with_name(path.name + ".partial").exists()
    # An existing file is never overwritten.
    assert main(["eval", "--agent", "random", "--env", ENV, "--episodes", "1",
                 "--save-episodes", str(path), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    assert len(path.read_text().splitlines()) == 4


def test_eval_show_prints_the_transcripts(capsys):
    assert main(["eval", "--agent", "oracle", "--env", ENV, "--episodes", "3", "--show", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("--- episode") == 2 and out.count("<response>Result=") == 2


def test_eval_takes_a_multi_agent_env_with_seats(tmp_path, capsys):
    path = tmp_path / "games.jsonl"
    summary = _eval(["--env", "TextMA-Race-v0", "--seats", "oracle", "random",
                     "--episodes", "2", "--save-episodes", str(path)], capsys)
    assert summary["mean_reward"] == {"player_0": 1.0, "player_1": -1.0}
    games = [json.loads(line) for line in path.open()]
    assert len(games) == 2 and isinstance(games[0]["seats"]["player_0"]["tokens"], list)
    assert main(["eval", "--env", "TextMA-Race-v0", "--agent", "oracle"]) == 2
    assert "give --seats" in capsys.readouterr().err


def test_play_a_multi_agent_env_until_end_of_input(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("Result=-4<submit>\n"))
    assert main(["play", "TextMA-Race-v0", "--seed", "0", "--seats", "random"]) == 0
    out = capsys.readouterr().out
    assert "You are player_0" in out and "What is 31-35?" in out


def test_play_takes_env_kwargs(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["play", ENV, "--seed", "0", "--env-kwargs", '{"level": 2}']) == 0
    level2 = capsys.readouterr().out
    assert main(["play", ENV, "--seed", "0"]) == 0
    assert capsys.readouterr().out != level2


def test_leaderboard_run_takes_env_kwargs(tmp_path, capsys):
    out = tmp_path / "board"
    argv = ["leaderboard", "run", "--agents", "oracle", "--envs", ENV, "--episodes", "3",
            "--env-kwargs", '{"level": 1}', "--out", str(out), "--no-chart", "--quiet"]
    assert main(argv) == 0
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["env_kwargs"] == {"level": 1}


def test_module_callable_agents_are_found_in_the_current_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_agents_here.py").write_text(
        "from textgym.agents import OracleAgent\n\ndef make(env):\n    return OracleAgent(env)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    summary = _eval(["--agent", "my_agents_here:make", "--env", ENV, "--episodes", "2"], capsys)
    assert summary["success_rate"] == 1.0


def test_evaluate_takes_an_agent_class_as_a_factory():
    env = gym.make(ENV)
    result = textgym.evaluate(env, OracleAgent, episodes=3, progress=False)
    assert result.success_rate == 1.0
