"""Reward modelling: pairs from episodes, the pairwise loss, training that beats chance on
held-out pairs, and the trained model as the reward of Sentiment and of any env."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import pytest
import torch

from textgym.agents import OracleAgent, RandomAgent
from textgym.agents.reward_model import (
    LearnedReward,
    RewardConfig,
    RewardModel,
    RewardModelScorer,
    pairwise_accuracy,
    pairwise_loss,
    preference_pairs,
    train_reward_model,
)
from textgym.app.cli import main

TINY = {"n_layer": 1, "n_embd": 128, "n_head": 2}


def test_pairwise_loss_by_hand():
    loss = pairwise_loss(torch.tensor([2.0, 0.0]), torch.tensor([0.0, 0.0]))
    expected = (math.log1p(math.exp(-2.0)) + math.log(2.0)) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # Only the difference matters: shifting both leaves the loss unchanged.
    shifted = pairwise_loss(torch.tensor([7.0, 5.0]), torch.tensor([5.0, 5.0]))
    assert shifted.item() == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def sentiment_pairs():
    env = gym.make("TextEnv-Sentiment-v0", oracle_polarity="mixed")
    agents = [OracleAgent(env), RandomAgent(env, seed=1)]
    train = preference_pairs(env, agents, range(0, 400))
    held = preference_pairs(env, agents, range(400, 450))
    env.close()
    return train, held


def test_pairs_are_ranked_by_the_task_and_reproducible(sentiment_pairs):
    train, _ = sentiment_pairs
    assert len(train) >= 100 and all(p.margin > 0 for p in train)
    env = gym.make("TextEnv-Sentiment-v0", oracle_polarity="mixed")
    again = preference_pairs(env, [OracleAgent(env), RandomAgent(env, seed=1)], range(0, 400))
    assert again == train
    # Two copies of the same deterministic agent never disagree: no pairs.
    assert preference_pairs(env, [OracleAgent(env), OracleAgent(env)], range(10)) == []
    with pytest.raises(ValueError, match="two agents"):
        preference_pairs(env, [OracleAgent(env)], range(3))
    env.close()


@pytest.fixture(scope="module")
def trained(sentiment_pairs):
    train, _ = sentiment_pairs
    rm = RewardModel.from_config(RewardConfig(steps=120, batch_size=32, learning_rate=5e-4), **TINY)
    losses = train_reward_model(rm, train, progress=False)
    return rm, losses


def test_training_beats_chance_on_held_out_pairs(sentiment_pairs, trained):
    _, held = sentiment_pairs
    rm, losses = trained
    untrained = RewardModel.from_config(RewardConfig(seed=0), **TINY)
    assert pairwise_accuracy(untrained, held) < 0.65
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5
    # Held-out reviews are composed afresh (film title, adjectives, aspect), and on a
    # negative item the preferred answer is the random one: 0.84 after 120 steps.
    assert pairwise_accuracy(rm, held) >= 0.8


def test_the_reward_model_scores_sentiment(trained, tmp_path):
    rm, _ = trained
    rm.save_pretrained(tmp_path / "rm")
    loaded = RewardModel.from_pretrained(tmp_path / "rm")
    texts = [" I loved it. A delightful triumph.", " I hated every minute of it.", ""]
    assert loaded.score(texts) == pytest.approx(rm.score(texts), abs=1e-5)
    scorer = RewardModelScorer(tmp_path / "rm")
    scores = scorer.score(texts)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    # As the reward of the Sentiment env: the oracle's positive review beats a negative one.
    env = gym.make("TextEnv-Sentiment-v0", scorer=scorer)
    base = env.unwrapped
    rewards = []
    for text in (
        " I loved it. A delightful, heartfelt triumph.<submit>",
        " I hated every minute of it. A total waste.<submit>",
    ):
        env.reset(seed=0, options={"split": "test", "index": 0})
        rewards.append(env.step(base.encode_turn(text))[1])
    assert rewards[0] > rewards[1]
    env.close()


def test_learned_reward_replaces_the_final_reward_of_any_env(trained):
    rm, _ = trained
    env = LearnedReward(gym.make("TextEnv-Calculator-v0"), rm, scale=2.0)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.unwrapped.oracle_action())
    assert not terminated and reward == 0.0  # the tool call: no reward yet
    _, reward, terminated, _, info = env.step(env.unwrapped.oracle_action())
    assert terminated and info["task_reward"] == 1.0 and info["success"]
    assert -2.0 <= reward <= 2.0 and reward != info["task_reward"]
    env.close()


def test_a_folder_that_is_not_a_reward_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no textgym reward model"):
        RewardModel.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match="steps"):
        RewardConfig(steps=0)


def test_train_reward_cli(tmp_path, capsys):
    argv = [
        "train",
        "reward",
        "--env",
        "TextEnv-Sentiment-v0",
        "--out",
        str(tmp_path / "rm"),
        "--items",
        "40",
        "--held-out",
        "20",
        "--steps",
        "5",
        "--batch-size",
        "4",
        "--env-kwargs",
        '{"oracle_polarity": "mixed"}',
        "--quiet",
    ]
    assert main(argv) == 0
    assert "held-out pairwise accuracy" in capsys.readouterr().out
    log = json.loads((tmp_path / "rm" / "reward_log.json").read_text())
    assert log["train_pairs"] > 0 and 0.0 <= log["held_out_accuracy"] <= 1.0
    assert len(log["losses"]) == 5
    assert main(argv[:-3] + ["--env-kwargs", "[1]", "--quiet"]) == 2
