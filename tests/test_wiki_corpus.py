"""The generated encyclopedia and its questions (textgym.envs.wiki_corpus and the
WikiSearchTask): entities, articles with distractors, determinism across processes, answer
aliases and TriviaQA-style scoring.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from textgym.envs.wiki import (
    WikiSearchTask,
    answer_aliases,
    exact_match,
    normalize_answer,
    score_answer,
)
from textgym.envs.wiki_corpus import generate_encyclopedia
from textgym.envs.wiki_facts import (
    FACT_SENTENCES,
    KINDS,
    MULTI_HOP,
    RELATIONS,
    fact_sentence,
    fact_sentences,
    read_fact,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "wiki_tiny"
CORPUS, QA = TINY / "corpus.jsonl", TINY / "qa.jsonl"


# ---- the generated encyclopedia --------------------------------------------------------


def test_encyclopedia_has_2000_distinct_entities_of_every_kind():
    enc = generate_encyclopedia(0, 2000)
    assert len(enc.entities) == len(enc.articles) == 2000
    assert {e.kind for e in enc.entities} == set(KINDS)
    names = [e.name for e in enc.entities]
    assert len(set(names)) == len(names)
    # Every entity's distinctive word (a surname, an organisation's root) is its own.
    distinctive = [
        e.name.split()[-1] if e.kind in ("person", "place") else e.name.split()[0]
        for e in enc.entities
    ]
    assert len(set(distinctive)) == len(distinctive)
    for title, text in enc.articles:
        assert text.count("\n\n") >= 1 and len(text) > 200, title


def test_articles_state_facts_and_distractors():
    enc = generate_encyclopedia(0, 2000)
    person = enc.by_kind["person"][0]
    text = dict(enc.articles)[person.name]
    assert f"{person.name} was born in {person.facts['birth_city']}" in text
    # A distractor: another person's birth, in the same article.
    assert text.count(" was born in ") == 2
    org = enc.by_kind["org"][0]
    assert dict(enc.articles)[org.name].count(" was founded in ") == 2


def test_generated_questions_follow_the_facts():
    task = WikiSearchTask(seed=0, test_size=200, entities=2000)
    enc = task.encyclopedia
    hops = {1: 0, 2: 0}
    for item in task.test_items():
        path = item.data["path"]
        hops[len(path)] += 1
        entity = enc.by_name[item.data["subject"]]
        for kind, relation in path:
            assert entity.kind == kind
            value = entity.facts[relation]
            entity = enc.by_name.get(value, entity)
        assert item.answer == value and item.answer == item.data["answers"][0]
    assert hops[1] > 50 and hops[2] > 50


def test_relations_and_chains_are_consistent():
    for chain in MULTI_HOP:
        target = RELATIONS[chain.kind][chain.first].target
        assert target is not None and chain.second in RELATIONS[target]


_DETERMINISM = textwrap.dedent(
    """
    import hashlib, json, sys
    from textgym.envs.wiki import WikiSearchEnv, WikiSearchTask
    from textgym.envs.wiki_corpus import generate_encyclopedia

    def digest(value):
        return hashlib.sha256(json.dumps(value).encode()).hexdigest()

    def oracle_episode(env, index):
        obs, _ = env.reset(options={"split": "test", "index": index})
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(env.oracle_action())
            done = terminated or truncated
        return [obs.tolist(), reward]

    enc = generate_encyclopedia(7, 2000)
    task = WikiSearchTask(seed=7, test_size=200)
    train = [task.item("train", i).question for i in range(50)]
    out = [hashlib.sha256(enc.to_bytes()).hexdigest(), enc.fingerprint, task.split_hash(),
           digest(train)]
    if "--env" in sys.argv:
        env = WikiSearchEnv(seed=7)
        out.append(digest([oracle_episode(env, i) for i in range(5)]))
        out.append("datasets" in sys.modules)  # optional: never imported for JSONL/generated
    print(json.dumps(out))
    """
)


def test_same_seed_same_bytes_and_questions_across_processes():
    """Two fresh interpreters with different hash seeds, and this process: the same corpus
    bytes, test split, train questions and (in the subprocesses) oracle episodes."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DETERMINISM, "--env"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
        )
        for hash_seed in ("0", "12345")
    ]
    outs = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert outs[0] == outs[1] and outs[0][-1] is False
    enc = generate_encyclopedia(7, 2000)
    task = WikiSearchTask(seed=7, test_size=200)
    train = [task.item("train", i).question for i in range(50)]
    here = [
        hashlib.sha256(enc.to_bytes()).hexdigest(),
        enc.fingerprint,
        task.split_hash(),
        hashlib.sha256(json.dumps(train).encode()).hexdigest(),
    ]
    assert outs[0][:4] == here
    assert len(enc.to_bytes()) > 500_000  # the corpus, not a stub


def test_different_seeds_give_different_corpora():
    assert generate_encyclopedia(0, 300).fingerprint != generate_encyclopedia(1, 300).fingerprint
    assert generate_encyclopedia(0, 300).fingerprint != generate_encyclopedia(0, 400).fingerprint


def test_bad_generator_arguments():
    with pytest.raises(ValueError, match="entities"):
        generate_encyclopedia(0, 10)
    with pytest.raises(ValueError, match="multi_hop"):
        WikiSearchTask(multi_hop=1.5)


def test_read_fact_ignores_distractors():
    enc = generate_encyclopedia(0, 2000)
    person = enc.by_kind["person"][3]
    rival_sentence = [
        {"title": person.name, "text": "Her rival, Bo Dex, was born in Elsewhere in 1700."}
    ]
    assert read_fact(rival_sentence, "person", "birth_city", person.name) is None
    other_title = [
        {"title": "Someone Else", "text": f"{person.name} was born in Elsewhere in 1700."}
    ]
    assert read_fact(other_title, "person", "birth_city", person.name) is None
    own = [{"title": person.name, "text": f"{person.name} was born in Elsewhere in 1700."}]
    assert read_fact(own, "person", "birth_city", person.name) == "Elsewhere"


def test_every_fact_is_read_back_from_its_own_sentence():
    """Writer and reader share one template per fact sentence: each fact of every entity
    is read back from the article's sentences, and only from the one that states it."""
    enc = generate_encyclopedia(0, 500)
    for entity in enc.entities:
        article = dict(enc.articles)[entity.name]
        written = fact_sentences(entity)
        assert all(sentence in article for sentence in written)
        for relation, value in entity.facts.items():
            sentence = fact_sentence(entity.kind, relation)
            hits = [{"title": entity.name, "text": text} for text in written]
            assert read_fact(hits, entity.kind, relation, entity.name) == value
            others = [h for h, t in zip(hits, FACT_SENTENCES[entity.kind]) if t != sentence]
            assert read_fact(others, entity.kind, relation, entity.name) is None


def test_every_relation_has_exactly_one_fact_sentence():
    for kind, relations in RELATIONS.items():
        for relation in relations:
            holding = [t for t in FACT_SENTENCES[kind] if "{" + relation + "}" in t]
            assert len(holding) == 1, (kind, relation, holding)
            assert fact_sentence(kind, relation) == holding[0]
    with pytest.raises(KeyError, match="no fact sentence"):
        fact_sentence("person", "population")


# ---- answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, normal",
    [
        ("The Vantari Guild.", "vantari guild"),
        ("  PARIS,   France ", "paris france"),
        ("an apothecary", "apothecary"),
        ("\u201cOstrevale\u201d", "ostrevale"),
        ("Vorkel, Anna", "vorkel anna"),
        ("snake_case", "snake case"),
        ("theatre", "theatre"),  # articles only as whole words
        ("A", ""),
    ],
)
def test_normalize_answer_is_triviaqa_style(raw, normal):
    assert normalize_answer(raw) == normal


def test_exact_match_with_aliases():
    assert exact_match("Result=Anna Vorkel", answer_aliases("org", "founder", "Anna Vorkel"))
    for alias in ("Vorkel", "vorkel, anna", "ANNA VORKEL."):
        assert exact_match(f"Result={alias}", answer_aliases("org", "founder", "Anna Vorkel"))
    assert exact_match("Answer: 41722", answer_aliases("place", "population", "41,722"))
    assert exact_match("the Tessel River", answer_aliases("place", "river", "Tessel"))
    assert exact_match("Result=Vantari", answer_aliases("person", "employer", "Vantari Guild"))
    assert not exact_match("Result=Anna", answer_aliases("org", "founder", "Anna Vorkel"))
    assert not exact_match("Result=1843 or 1844", ["1843"])
    assert not exact_match("", ["1843"]) and not exact_match(None, ["1843"])
    assert not exact_match("Result=the", ["the"])  # nothing left after normalisation


def test_score_answer_is_the_task_reward():
    aliases = answer_aliases("org", "founder", "Anna Vorkel")
    assert score_answer("Result=Vorkel, Anna", aliases) == 1.0
    assert score_answer("Result=\u201cANNA   VORKEL\u201d.", aliases) == 1.0
    assert score_answer("Result=Anna Vorkel and Bo Dex", aliases) == 0.0
    assert score_answer(None, aliases) == 0.0
    task = WikiSearchTask(seed=0, test_size=20, entities=300)
    for item in task.test_items():
        assert task.score(item, f"Result={item.answer}") == 1.0
        for alias in item.data["answers"]:
            assert task.score(item, alias) == score_answer(alias, item.data["answers"]) == 1.0
        assert task.score(item, "Result=unknown") == 0.0
