"""TextEnv-WikiSearch-v0: the oracle and random agents, the env's use of the index, and
real corpora (JSONL, dataset-like, saved datasets) with QA files.

The contract tests (tests/test_env_contract.py) cover the registered env as well: check_env,
determinism, vector envs, the oracle at 100% and the random agent near 0 on the test split.
Search engine tests are in test_wiki_search.py, generator tests in test_wiki_corpus.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import textgym
from textgym.agents import OracleAgent, RandomAgent
from textgym.envs.wiki import (
    QATask,
    WikiSearchEnv,
    load_qa,
    normalize_answer,
)
from textgym.task import ToolCall
from textgym.tokenizer import encode_agent_text, make_tokenizer
from textgym.tools import search

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "wiki_tiny"
CORPUS, QA = TINY / "corpus.jsonl", TINY / "qa.jsonl"


@pytest.fixture(scope="module")
def small_env(tmp_path_factory):
    """A 300-entity encyclopedia: fast, and still every kind and question type."""
    env = WikiSearchEnv(entities=300, test_size=100, cache_dir=tmp_path_factory.mktemp("c"))
    yield env
    env.close()


class FakeDataset:
    """What the tool needs of a ``datasets.Dataset``: iteration over dicts, a fingerprint."""

    def __init__(self, rows, fingerprint="abc123"):
        self.rows = rows
        self._fingerprint = fingerprint
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        return iter(self.rows)


# ---- the oracle ------------------------------------------------------------------------


def _play(env, split, index, agent=None):
    agent = agent or OracleAgent(env)
    obs, info = env.reset(options={"split": split, "index": index})
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
        done = terminated or truncated
    return reward, info


def test_oracle_solves_single_and_multi_hop_test_items(small_env):
    result = textgym.evaluate(small_env, OracleAgent(small_env), progress=False)
    assert result.success_rate == 1.0
    by_hops = {1: [], 2: []}
    for item in small_env.task.test_items():
        by_hops[len(item.data["path"])].append(item.index)
    assert by_hops[1] and by_hops[2]
    _, info = _play(small_env, "test", by_hops[2][0])
    first, second = info["tool_calls"]
    item = small_env.task.test_items()[by_hops[2][0]]
    subject = small_env.task.encyclopedia.by_name[item.data["subject"]]
    bridge = subject.facts[item.data["path"][0][1]]
    # The second query names the bridge entity, which the first response showed.
    assert bridge in first["response"] and second["query"].startswith(bridge)


def test_oracle_reads_the_search_results_not_the_answer(small_env):
    """The oracle reads the call's structured hits (never the item's answer, and never by
    parsing the rendered text: the text here says something else)."""
    task = small_env.task
    item = next(i for i in task.test_items() if i.data["path"] == [["person", "birth_year"]])
    subject = item.data["subject"]
    hits = [{"title": subject, "text": f"{subject} was born in Nowhere in 1111."}]
    call = ToolCall("Wiki", "q", "(rendered text)", ok=True, valid=True, data=hits)
    turn = task.oracle_turn(item, [call])
    assert turn == "Result=1111<submit>"
    # An unreadable response means searching again, not guessing.
    empty = ToolCall("Wiki", "q", "No results for: x", True, True, data=[])
    turn = task.oracle_turn(item, [empty])
    assert turn.startswith("<request><Wiki>")


def test_train_items_avoid_the_test_split(small_env):
    task = small_env.task
    test = {item.question for item in task.test_items()}
    assert not test & {task.item("train", i).question for i in range(300)}


@pytest.fixture(scope="module")
def default_env(tmp_path_factory):
    """The registered configuration: seed 0, 2,000 entities, 200 test items."""
    env = gym.make("TextEnv-WikiSearch-v0", cache_dir=tmp_path_factory.mktemp("default"))
    yield env
    env.close()


def test_oracle_and_random_on_the_default_test_split(default_env):
    """The acceptance bounds, per question type: the oracle >= 98% on single- and on
    multi-hop test items (it scores 100%), the random agent about 0."""
    base = default_env.unwrapped
    assert base.task.test_size == 200 and len(base.task.encyclopedia.entities) == 2000
    oracle = OracleAgent(default_env)
    scores: dict[int, list[float]] = {1: [], 2: []}
    for item in base.task.test_items():
        reward, info = _play(default_env, "test", item.index, oracle)
        scores[len(item.data["path"])].append(reward)
        assert len(info["tool_calls"]) == len(item.data["path"])  # one search per hop
    assert len(scores[1]) > 60 and len(scores[2]) > 60
    for hops, rewards in scores.items():
        assert sum(rewards) / len(rewards) >= 0.98, hops
    random = textgym.evaluate(default_env, RandomAgent(default_env, seed=1), progress=False)
    assert random.n == 200 and random.mean_reward <= 0.01


def test_reset_and_step_reuse_one_open_index(default_env, monkeypatch):
    """The index is checked and opened once per process and corpus; episodes never touch
    the file's checks again, and a second env of the same corpus skips them too."""
    base = default_env.unwrapped
    base.search_tool.run("warm up")  # the connection is open
    con = base.index._con

    def fail(*args):
        raise AssertionError("the index was checked again")

    monkeypatch.setattr(search.index, "index_problem", fail)
    monkeypatch.setattr(search.index, "build_index", fail)
    for index in range(20):
        _play(default_env, "test", index)
    assert base.index._con is con
    second = WikiSearchEnv(cache_dir=base.index.path.parent.parent)
    assert second.index.path == base.index.path and not second.index.built
    second.close()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=300))
def test_fuzzed_tool_calls_through_the_env_never_raise(small_env, query):
    """Any query text an agent can write (surrogates cannot be written: the env decodes
    bytes) becomes an ordinary tool response."""
    small_env.reset(seed=0)
    action = small_env.encode_turn(f"<request><Wiki>{query}<call>")
    obs, reward, terminated, truncated, info = small_env.step(action)
    if len(action) > small_env.max_turn_tokens:
        # Cut before <call>: not a tool call but a (wrong) final answer, by the contract.
        assert info["turn_truncated"] and info["tool_calls"] == [] and terminated
        return
    (call,) = info["tool_calls"]
    assert reward == 0.0 and not terminated and isinstance(call["response"], str)
    assert call["response"]
    assert call["ok"] == bool(search.sanitize_query(call["query"]))


def test_env_caps_responses_with_its_own_tokenizer(small_env):
    tool = small_env.search_tool
    assert tool.max_tokens == small_env.max_response_tokens
    for query in ("born founded city", "the of", "guild society academy league"):
        response = tool.run(query).response
        assert len(response.encode()) <= small_env.max_response_tokens  # ByT5: bytes


# ---- the env ---------------------------------------------------------------------------


def test_registered_and_constructed_from_the_cached_index(tmp_path):
    env = gym.make("TextEnv-WikiSearch-v0", cache_dir=tmp_path)
    base = env.unwrapped
    assert base.index.built and base.index.documents == 2000
    again = gym.make("textgym:TextEnv-WikiSearch-v0", cache_dir=tmp_path)
    assert not again.unwrapped.index.built and again.unwrapped.index.path == base.index.path
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(
        base.encode_turn("<request><Wiki>founded<call>")
    )
    assert info["tool_calls"][0]["ok"] and info["tool_calls"][0]["response"].startswith("[1] ")
    env.close()
    assert base.index._con is None  # env.close() closed the tool's connection
    again.close()


def test_async_vector_workers_share_one_index(tmp_path):
    """Workers of an AsyncVectorEnv open the index the first env built; none rebuilds."""
    vec = gym.make_vec(
        "TextEnv-WikiSearch-v0",
        num_envs=2,
        vectorization_mode="async",
        vector_kwargs={"shared_memory": False},
        cache_dir=tmp_path,
    )
    try:
        indexes = vec.get_attr("index")
        assert [index.built for index in indexes] == [False, False]
        assert len({index.path for index in indexes}) == 1
        vec.reset(seed=0)
        tokenizer = make_tokenizer(None)
        call = encode_agent_text(tokenizer, "<request><Wiki>born<call>")
        answer = encode_agent_text(tokenizer, "Result=1<submit>")
        _, _, terminated, _, info = vec.step((call, answer))
        assert terminated.tolist() == [False, True]
        assert info["tool_calls"][0][0]["response"].startswith("[1] ")
    finally:
        vec.close()
    assert len(list((tmp_path / "search").glob("*.sqlite"))) == 1


def test_env_argument_errors():
    with pytest.raises(ValueError, match="corpus= needs qa="):
        WikiSearchEnv(corpus=CORPUS)
    with pytest.raises(ValueError, match="qa= needs corpus="):
        WikiSearchEnv(qa=QA)


# ---- real corpora: JSONL and QA files --------------------------------------------------


def test_jsonl_corpus_and_qa_file_env(tmp_path):
    env = WikiSearchEnv(corpus=str(CORPUS), qa=str(QA), index_path=tmp_path / "i.sqlite")
    task = env.task
    assert isinstance(task, QATask) and task.test_size == 7
    assert textgym.evaluate(env, OracleAgent(env), progress=False).success_rate == 1.0
    # On this corpus search suffices: every question's answer is in its search response.
    for pair in task.pairs:
        response = normalize_answer(env.search_tool.run(pair.query or pair.question).response)
        assert any(f" {normalize_answer(a)} " in f" {response} " for a in pair.answers), pair
    test = {item.question for item in task.test_items()}
    assert not test & {task.item("train", i).question for i in range(50)}
    reward, info = _play(env, "test", 0)
    assert reward == 1.0 and info["tool_calls"][0]["name"] == "Wiki"
    env.close()


def test_qa_records_accept_common_shapes(tmp_path):
    pairs = load_qa(
        [
            {"question": "Q1?", "answers": ["A", "a2"]},
            {"question": "Q2?", "answer": "B"},
            {"question": "Q3?", "answer": {"value": "C", "aliases": ["C", "Cee"]}},  # TriviaQA
            {"question": "Q1?", "answers": ["dup"]},  # duplicate question: first wins
            {"question": "Q4?", "answers": ["D"], "query": "dee"},
        ]
    )
    assert [(p.question, p.answers, p.query) for p in pairs] == [
        ("Q1?", ("A", "a2"), None),
        ("Q2?", ("B",), None),
        ("Q3?", ("C", "Cee"), None),
        ("Q4?", ("D",), "dee"),
    ]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x", "answers": []}\n')
    with pytest.raises(ValueError, match="line 1"):
        load_qa(bad)
    with pytest.raises(ValueError, match="at least 2"):
        load_qa([{"question": "only", "answers": ["one"]}])
    with pytest.raises(ValueError, match="test_size"):
        QATask(QA, test_size=14)


def test_dataset_like_corpus_in_the_env(tmp_path):
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    qa = [json.loads(line) for line in QA.read_text().splitlines()]
    env = WikiSearchEnv(corpus=FakeDataset(rows), qa=FakeDataset(qa), cache_dir=tmp_path)
    assert textgym.evaluate(env, OracleAgent(env), progress=False).success_rate == 1.0
    env.close()


def test_check_env_with_a_real_corpus(tmp_path):
    env = gym.make("TextEnv-WikiSearch-v0", corpus=CORPUS, qa=QA, cache_dir=tmp_path)
    check_env(env.unwrapped)
    env.close()


def test_dataset_dicts_need_a_split(tmp_path):
    with pytest.raises(TypeError, match=r"corpus=dataset\['train'\]"):
        WikiSearchEnv(corpus={"train": [], "test": []}, qa=QA, cache_dir=tmp_path)
    with pytest.raises(TypeError, match=r"qa=dataset\['validation'\]"):
        load_qa({"validation": []})


def test_saved_dataset_directory_needs_datasets_only_then(tmp_path, monkeypatch):
    """A directory is read as a saved `datasets` dataset, imported lazily: without the
    package the error says what to install; JSONL files never import it."""
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install datasets"):
        WikiSearchEnv(corpus=tmp_path, qa=QA, cache_dir=tmp_path)
    with pytest.raises(ImportError, match="pip install datasets"):
        load_qa(tmp_path)
    WikiSearchEnv(corpus=CORPUS, qa=QA, cache_dir=tmp_path).close()


def test_real_datasets_objects_and_saved_directories(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    qa = [json.loads(line) for line in QA.read_text().splitlines()]
    corpus = datasets.Dataset.from_list(rows)
    questions = datasets.Dataset.from_list([{**r, "query": r.get("query") or ""} for r in qa])
    env = WikiSearchEnv(corpus=corpus, qa=questions, cache_dir=tmp_path)
    assert env.index.documents == 12
    assert textgym.evaluate(env, OracleAgent(env), progress=False).success_rate == 1.0
    env.close()
    corpus.save_to_disk(tmp_path / "corpus_ds")
    questions.save_to_disk(tmp_path / "qa_ds")
    env = WikiSearchEnv(corpus=tmp_path / "corpus_ds", qa=qa, cache_dir=tmp_path)
    assert env.index.documents == 12
    assert len(load_qa(tmp_path / "qa_ds")) == len(qa)
    env.close()
