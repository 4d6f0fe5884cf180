"""TextEnv-Sentiment-v0: scorers, the Sentiment tool, prompts, degeneration metrics."""

import json

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from local_models import tiny_classifier

import textgym
from textgym.agents import OracleAgent, RandomAgent
from textgym.envs.sentiment import SentimentTask
from textgym.envs.sentiment_data import (
    load_openings,
    review_corpus,
    review_openings,
    title_of,
)
from textgym.text_metrics import degeneration_metrics
from textgym.tools.sentiment import (
    ClassifierScorer,
    Scorer,
    SentimentTool,
    VaderScorer,
    make_scorer,
)

POSITIVE = [
    "This movie was wonderful, brilliant and deeply moving.",
    "I loved every minute of it. A must see.",
    "The acting is superb and the ending is perfect.",
]
NEGATIVE = [
    "This movie was awful, boring and a complete mess.",
    "I hated every minute of it. Avoid it.",
    "The acting is terrible and the ending is stupid.",
]


@pytest.fixture(scope="module")
def vader():
    return VaderScorer()


def test_vader_ranks_clearly_positive_above_clearly_negative(vader):
    pos, neg = vader.score(POSITIVE), vader.score(NEGATIVE)
    assert min(pos) > 0.5 and max(neg) < -0.5
    assert vader.score(["", "The film is 120 minutes long."]) == [0.0, 0.0]
    assert all(-1.0 <= s <= 1.0 for s in pos + neg)


def test_make_scorer_specs(vader, tmp_path):
    assert isinstance(make_scorer(None), VaderScorer)
    assert isinstance(make_scorer("vader"), VaderScorer)
    assert make_scorer(vader) is vader
    with pytest.raises(FileNotFoundError):
        make_scorer(tmp_path / "no-model")
    with pytest.raises(TypeError):
        make_scorer(3)


def test_classifier_scorer_maps_labels_to_the_documented_range(tmp_path):
    import math

    folder = tiny_classifier(tmp_path / "clf", positive_bias=2.0)
    scorer = make_scorer(str(folder))
    assert isinstance(scorer, ClassifierScorer)
    p = 1 / (1 + math.exp(-2.0))
    scores = scorer.score(["great film", "bad film", "x" * 5000, ""])
    assert scores[:3] == pytest.approx([2 * p - 1] * 3, abs=1e-5)
    assert scores[3] == 0.0  # empty text is neutral, as with VADER
    # The label names decide the sign, not the index.
    flipped = ClassifierScorer(tiny_classifier(tmp_path / "f", 2.0, ("POSITIVE", "NEGATIVE")))
    assert flipped("great film") == pytest.approx(-(2 * p - 1), abs=1e-5)
    with pytest.raises(ValueError, match="not in the model's labels"):
        ClassifierScorer(folder, positive_label="joy")


def test_sentiment_tool_scores_drafts_and_never_raises(vader):
    tool = SentimentTool(vader)
    result = tool.run(POSITIVE[0])
    assert result.ok and float(result.response) > 0.5 and result.response.startswith("+")
    assert float(tool.run(NEGATIVE[0]).response) < -0.5
    assert not tool.run("   ").ok
    assert not tool.run("good " * 1000).ok


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_tool_never_raises_on_any_text(text):
    result = _TOOL.run(text)
    assert isinstance(result.response, str)


_TOOL = SentimentTool()


def test_degeneration_metrics_expose_reward_hacking(vader):
    hacked = "great great great great great great"
    natural = "it is a wonderful film with brilliant performances"
    assert vader(hacked) > 0.9  # the scorer alone would reward it ...
    h, n = degeneration_metrics(hacked), degeneration_metrics(natural)
    assert h["distinct_1"] == pytest.approx(1 / 6) and n["distinct_1"] == 1.0
    assert h["distinct_2"] == pytest.approx(1 / 5) and n["distinct_2"] == 1.0
    assert h["repetition_rate"] == pytest.approx(5 / 6) and n["repetition_rate"] == 0.0
    assert h["length"] == 6.0
    assert degeneration_metrics("")["length"] == 0.0


def test_episode_reports_degeneration_and_reward(vader):
    env = gym.make("TextEnv-Sentiment-v0")
    env.reset(seed=0)
    turn = env.unwrapped.encode_turn(" great great great great<submit>")
    _, reward, terminated, _, info = env.step(turn)
    assert terminated and reward == pytest.approx(vader(" great great great great"))
    assert info["degeneration"]["repetition_rate"] == pytest.approx(3 / 4)
    assert info["success"] is (reward >= 0.5)
    env.close()


def test_negative_target_flips_the_reward(vader):
    pos = gym.make("TextEnv-Sentiment-v0")
    neg = gym.make("TextEnv-Sentiment-v0", target="negative")
    rewards = []
    for env in (pos, neg):
        env.reset(seed=1)
        _, reward, *_ = env.step(env.unwrapped.encode_turn(" I loved it.<submit>"))
        rewards.append(reward)
        env.close()
    assert rewards[0] > 0.5 and rewards[1] == pytest.approx(-rewards[0])
    assert "negative" in neg.unwrapped.system_prompt
    with pytest.raises(ValueError, match="target"):
        gym.make("TextEnv-Sentiment-v0", target="neutral")


def test_the_agent_may_score_a_draft_with_the_tool():
    env = gym.make("TextEnv-Sentiment-v0")
    obs, _ = env.reset(seed=2)
    call = env.unwrapped.encode_turn("<request><Sentiment> a superb film<call>")
    obs, reward, terminated, truncated, info = env.step(call)
    assert not (terminated or truncated) and reward == 0.0
    response = info["tool_calls"][0]["response"]
    assert info["tool_calls"][0]["ok"] and float(response) > 0.5
    assert env.unwrapped.text().endswith(f"<call>{response}<response>")
    *_, info = env.step(env.unwrapped.encode_turn(" a superb film.<submit>"))
    assert info["success"] and info["episode_stats"]["tool_calls"] == 1
    env.close()


def test_max_new_tokens_caps_a_turn():
    env = gym.make("TextEnv-Sentiment-v0", max_new_tokens=10)
    env.reset(seed=0)
    *_, info = env.step(env.unwrapped.encode_turn(" wonderful wonderful film<submit>"))
    assert info["turn_truncated"] and info["answer"] == " wonderful"
    env.close()


def test_openings_are_distinct_neutral_and_reproducible(vader):
    openings = review_openings(600)
    assert len(set(openings)) == 600 and openings == review_openings(600)
    assert review_openings(50, seed=1) != openings[:50]
    scores = vader.score(openings)
    assert np.mean(np.abs(scores)) < 0.1  # sentiment comes from the continuation


def test_review_corpus_is_mixed_polarity_and_labelled(vader):
    corpus = review_corpus(400)
    share = np.mean([r["positive"] for r in corpus])
    assert 0.4 < share < 0.6
    agree = [(vader(r["text"]) > 0) == r["positive"] for r in corpus]
    assert np.mean(agree) > 0.95
    assert corpus == review_corpus(400)


def test_mixed_oracle_is_a_mixed_polarity_demonstration_source():
    env = gym.make("TextEnv-Sentiment-v0", oracle_polarity="mixed")
    result = textgym.evaluate(env, OracleAgent(env), episodes=100, progress=False)
    assert -0.3 < result.mean_reward < 0.3
    env.close()


def test_positive_oracle_scores_well_above_random_text():
    env = gym.make("TextEnv-Sentiment-v0")
    oracle = textgym.evaluate(env, OracleAgent(env), episodes=200, progress=False)
    random = textgym.evaluate(env, RandomAgent(env), episodes=200, progress=False)
    assert oracle.success_rate == 1.0 and oracle.mean_reward > 0.7
    assert abs(random.mean_reward) < 0.05 and random.success_rate < 0.02
    env.close()


def test_one_polarity_of_the_oracle_is_varied_and_names_the_film(vader):
    """A policy pushed toward one polarity can stay diverse only if that polarity of the
    demonstrations is: the positive oracle writes a different continuation for nearly
    every test item, names the opening's film, fits the env's turn, and reads positive."""
    env = gym.make("TextEnv-Sentiment-v0")
    task, oracle = env.unwrapped.task, OracleAgent(env)
    texts = []
    for index in range(200):
        obs, info = env.reset(options={"split": "test", "index": index})
        action = oracle.act(obs, info)
        assert len(action) <= env.unwrapped.max_turn_tokens
        texts.append(env.unwrapped.tokenizer.decode(action[:-1]))
        title = title_of(task.item("test", index).question)
        if title and title in texts[-1]:
            assert vader(texts[-1]) >= 0.5
    assert len(set(texts)) >= 170
    assert sum(bool(title_of(text)) for text in texts) >= 80
    assert title_of("I watched The Quiet Harbor last night, and") == "The Quiet Harbor"
    assert title_of("About the new thriller from Ana Ortiz:") is None
    env.close()


def test_load_openings_from_files_and_records(tmp_path):
    reviews = [
        "One of the best films I have seen in years, with a great cast",
        "A total waste of time <br /> and money",
    ]
    text_file = tmp_path / "prompts.txt"
    text_file.write_text("\n".join(reviews) + "\n\n")
    jsonl = tmp_path / "imdb.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": r, "label": 1}) for r in reviews))
    a = load_openings(text_file, min_words=3, max_words=3)
    assert a == ["One of the", "A total waste"]
    assert load_openings(jsonl, min_words=3, max_words=3) == a
    assert load_openings([{"prompt": "Hello there friend"}], 2, 2) == ["Hello there"]
    cut = load_openings(reviews, min_words=2, max_words=8, seed=5)
    assert all(2 <= len(c.split()) <= 8 for c in cut)
    with pytest.raises(ValueError):
        load_openings(["", "  "])
    with pytest.raises(FileNotFoundError):
        load_openings(tmp_path / "missing.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_openings(bad)


def test_custom_prompts_build_the_splits():
    prompts = [f"Opening number {i} of the review" for i in range(60)]
    env = gym.make("TextEnv-Sentiment-v0", prompts=prompts, test_size=20)
    test = {env.unwrapped.task.item("test", i).question for i in range(20)}
    train = {env.unwrapped.task.item("train", i).question for i in range(200)}
    assert test <= set(prompts) and not test & train
    obs, _ = env.reset(seed=0, options={"split": "test", "index": 3})
    assert env.unwrapped.text().endswith(env.unwrapped.item.question)
    with pytest.raises(ValueError, match="distinct prompts"):
        SentimentTask(prompts=prompts[:10], test_size=20)
    env.close()


class _LengthScorer(Scorer):
    """A custom scorer plugs in through the Scorer interface."""

    def score(self, texts):
        return [min(1.0, len(t) / 100) for t in texts]


def test_a_custom_scorer_plugs_in():
    env = gym.make("TextEnv-Sentiment-v0", scorer=_LengthScorer())
    env.reset(seed=0)
    *_, reward, _, _, _ = env.step(env.unwrapped.encode_turn("x" * 50 + "<submit>"))
    assert reward == pytest.approx(0.5)
    env.close()
