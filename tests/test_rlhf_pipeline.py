"""The RLHF pipeline's pieces: transcript pairs, hard negatives from a policy's failures,
a reward model that reads the episode, and PPO that trains against it alone; and the
documented `textgym train` sequence end to end on tiny sizes."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from textgym.agents import OracleAgent, RandomAgent, SFTConfig
from textgym.agents.reward_model import (
    LearnedReward,
    RewardConfig,
    RewardModel,
    hard_negative_accuracy,
    preference_pairs,
)
from textgym.agents.run_folder import RunFolderError
from textgym.agents.train import train_ppo, train_sft
from textgym.agents.train_reward import PAIRS_FILE, load_pairs, train_reward
from textgym.app.cli import main

CALC = "TextEnv-Calculator-v0"


@pytest.fixture(scope="module")
def calc_env():
    env = gym.make(CALC)
    yield env
    env.close()


def test_transcript_pairs_hold_the_tool_call_and_its_result(calc_env):
    agents = [OracleAgent(calc_env), RandomAgent(calc_env, seed=0)]
    pairs = preference_pairs(calc_env, agents, range(5), transcript=True)
    assert pairs
    for pair in pairs:
        # The oracle's transcript: the call, the tool's response and the answer.
        assert "<call>" in pair.chosen and "<response>" in pair.chosen
    answers = preference_pairs(calc_env, agents, range(5))
    assert all("<call>" not in p.chosen for p in answers)  # the final answer alone


def test_hard_pairs_are_a_named_agents_failures_against_successes(calc_env):
    agents = [OracleAgent(calc_env), RandomAgent(calc_env, seed=0)]
    none = preference_pairs(calc_env, agents, range(6))
    hard = preference_pairs(calc_env, agents, range(6), hard_from=[1])
    assert not any(p.hard for p in none)
    # Random fails every item and the oracle solves every one: each pair is hard.
    assert len(hard) == 6 and all(p.hard for p in hard)
    # The oracle's "failures" are not hard negatives: it has none.
    assert not any(p.hard for p in preference_pairs(calc_env, agents, range(6), hard_from=[0]))


def test_min_margin_drops_pairs_of_nearly_equal_scores():
    env = gym.make("TextEnv-Sentiment-v0", oracle_polarity="mixed")
    agents = [OracleAgent(env), RandomAgent(env, seed=0), RandomAgent(env, seed=1)]
    everything = preference_pairs(env, agents, range(8))
    wide = preference_pairs(env, agents, range(8), min_margin=0.75)
    assert len(wide) < len(everything)
    assert all(p.margin > 0.75 for p in wide)
    with pytest.raises(ValueError, match="min_margin"):
        preference_pairs(env, agents, range(2), min_margin=-1)
    env.close()


def test_hard_negative_accuracy_counts_only_hard_pairs(calc_env):
    rm = RewardModel.from_config(RewardConfig(with_transcript=True))
    agents = [OracleAgent(calc_env), RandomAgent(calc_env, seed=0)]
    assert hard_negative_accuracy(rm, preference_pairs(calc_env, agents, range(3))) is None
    pairs = preference_pairs(calc_env, agents, range(3), hard_from=[1])
    assert 0.0 <= hard_negative_accuracy(rm, pairs) <= 1.0


def test_a_transcript_model_scores_the_question_and_the_whole_episode(calc_env):
    rm = RewardModel.from_config(RewardConfig(with_transcript=True))
    seen: list[str] = []
    score = rm.normalized
    rm.normalized = lambda texts: seen.extend(texts) or score(texts)
    env = LearnedReward(gym.make(CALC), rm)
    env.reset(options={"split": "test", "index": 3})
    question = env.unwrapped.item.question
    info = {}
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(env.unwrapped.oracle_action())
    (text,) = seen
    assert text.startswith(question + "\n")
    assert "<call>" in text and "<response>" in text and info["answer"] in text
    assert info["task_reward"] == 1.0 and reward == pytest.approx(np.tanh(score([text])[0]))
    env.close()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """SFT, then a transcript reward model with the SFT policy's samples, tiny sizes."""
    root = tmp_path_factory.mktemp("rlhf")
    sft_dir = train_sft(
        CALC,
        root / "sft",
        SFTConfig(steps=10),
        env_kwargs={"oracle_tool_rate": 0.3},
        progress=False,
    )
    rm_dir, accuracy = train_reward(
        CALC,
        root / "rm",
        RewardConfig(steps=10, batch_size=8, with_transcript=True),
        items=12,
        held_out=6,
        first_item=500,
        policy=sft_dir,
        samples=2,
        progress=False,
    )
    return root, sft_dir, rm_dir


def test_train_reward_with_a_policy_logs_hard_negatives(pipeline):
    _, _, rm_dir = pipeline
    log = json.loads((rm_dir / "reward_log.json").read_text())
    assert log["samples"] == 2 and log["train_items"] == [500, 512]
    assert log["held_out_items"] == [512, 518]
    assert log["train_hard_pairs"] > 0 and log["held_out_hard_pairs"] > 0
    assert 0.0 <= log["held_out_hard_accuracy"] <= 1.0
    assert RewardModel.from_pretrained(rm_dir).config.with_transcript


def test_train_reward_refuses_a_missing_policy(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        train_reward(CALC, tmp_path / "rm", policy=tmp_path / "nothing", progress=False)
    assert not (tmp_path / "rm").exists()  # refused before the run folder was made


def test_ppo_against_a_reward_model_sees_only_the_learned_reward(pipeline, tmp_path):
    _, sft_dir, rm_dir = pipeline
    config = {"episodes_per_iteration": 8, "checkpoint_every": 0, "max_new_tokens": 24}
    ppo, rows = train_ppo(
        CALC,
        tmp_path / "ppo",
        config,
        init=sft_dir,
        iterations=1,
        num_envs=4,
        reward_model=rm_dir,
        progress=False,
    )
    run = json.loads((tmp_path / "ppo" / "run.json").read_text())
    assert run["reward_model"] == str(rm_dir)
    # The task's rewards are 0 or 1; the learned ones are tanh of a normalized score.
    mean = rows[0]["env/reward_mean"]
    assert -1.0 < mean < 1.0 and mean not in {i / 8 for i in range(9)}
    # Resuming under another reward model is refused: the run's reward is part of it.
    with pytest.raises(RunFolderError, match="reward_model"):
        train_ppo(
            CALC, tmp_path / "ppo", resume=True, iterations=2, reward_model=tmp_path, progress=False
        )


def test_the_documented_cli_sequence(tmp_path, capsys):
    out = str(tmp_path)
    assert (
        main(
            [
                "train",
                "sft",
                "--env",
                CALC,
                "--env-kwargs",
                '{"oracle_tool_rate": 0.3}',
                "--out",
                f"{out}/sft",
                "--steps",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "train",
                "reward",
                "--env",
                CALC,
                "--out",
                f"{out}/rm",
                "--policy",
                f"{out}/sft/policy",
                "--samples",
                "2",
                "--items",
                "8",
                "--held-out",
                "4",
                "--steps",
                "5",
                "--with-transcript",
                "--quiet",
            ]
        )
        == 0
    )
    assert "hard pairs" in capsys.readouterr().out
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                CALC,
                "--init",
                f"{out}/sft/policy",
                "--reward-model",
                f"{out}/rm",
                "--lora-rank",
                "4",
                "--out",
                f"{out}/ppo",
                "--iterations",
                "1",
                "--batch-size",
                "4",
                "--num-envs",
                "4",
                "--eval-every",
                "0",
                "--quiet",
            ]
        )
        == 0
    )
    run = json.loads((tmp_path / "ppo" / "run.json").read_text())
    assert run["reward_model"] == f"{out}/rm" and run["lora_rank"] == 4
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                CALC,
                "--reward-model",
                f"{out}/missing",
                "--out",
                f"{out}/ppo2",
                "--iterations",
                "1",
                "--quiet",
            ]
        )
        != 0
    )


def test_the_pairs_are_kept_and_a_second_model_trains_on_them_without_playing(
    pipeline, tmp_path, monkeypatch
):
    _, _, rm_dir = pipeline
    train, held_out, header = load_pairs(rm_dir / PAIRS_FILE, CALC, transcript=True)
    log = json.loads((rm_dir / "reward_log.json").read_text())
    assert (len(train), len(held_out)) == (log["train_pairs"], log["held_out_pairs"])
    assert sum(p.hard for p in held_out) == log["held_out_hard_pairs"]
    assert header["policy"] == log["policy"] and header["samples"] == 2

    def no_playing(*args, **kwargs):
        raise AssertionError("the pairs were played again")

    monkeypatch.setattr("textgym.agents.train_reward.preference_pairs", no_playing)
    wider = RewardConfig(steps=3, batch_size=4, with_transcript=True, n_layer=1, n_embd=64)
    out, _ = train_reward(CALC, tmp_path / "wider", wider, pairs=rm_dir, progress=False)
    again = json.loads((out / "reward_log.json").read_text())
    assert again["train_pairs"] == log["train_pairs"]
    assert again["train_items"] == log["train_items"]  # from the pairs file, not defaults
    assert again["pairs_from"] == str(rm_dir)
    model = RewardModel.from_pretrained(out)
    assert (model.model.config.n_layer, model.model.config.n_embd) == (1, 64)
    assert load_pairs(out, CALC, transcript=True)[0] == train  # copied beside the model


def test_pairs_of_another_env_or_kind_are_refused_before_a_folder_is_made(pipeline, tmp_path):
    _, _, rm_dir = pipeline
    with pytest.raises(ValueError, match="not 'TextEnv-Sentiment-v0'"):
        train_reward(
            "TextEnv-Sentiment-v0",
            tmp_path / "a",
            RewardConfig(with_transcript=True),
            pairs=rm_dir,
            progress=False,
        )
    with pytest.raises(ValueError, match="set --with-transcript"):
        train_reward(CALC, tmp_path / "b", RewardConfig(), pairs=rm_dir, progress=False)
    garbage = tmp_path / "pairs.jsonl"
    garbage.write_text("{not json\n")
    with pytest.raises(ValueError, match="not a preference-pairs file"):
        train_reward(CALC, tmp_path / "c", pairs=garbage, progress=False)
    with pytest.raises(FileNotFoundError, match="no preference pairs"):
        train_reward(CALC, tmp_path / "d", pairs=tmp_path / "missing", progress=False)
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_reward_config_checks_the_model_size():
    with pytest.raises(ValueError, match="n_layer"):
        RewardConfig(n_layer=0)
    with pytest.raises(ValueError, match="multiple of the 4 attention heads"):
        RewardConfig(n_embd=66)
