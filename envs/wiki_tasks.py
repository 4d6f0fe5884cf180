"""The tasks of ``TextEnv-WikiSearch-v0``: questions about the generated encyclopedia
(:class:`WikiSearchTask`) or from a QA file (:class:`QATask`), both scored by
TriviaQA-style normalised exact match against answer aliases (:func:`score_answer`), and
each with its oracle turn."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textgym.answers import read_answer
from textgym.envs.wiki_corpus import GENERATOR_VERSION, Encyclopedia, generate_encyclopedia
from textgym.envs.wiki_facts import MULTI_HOP, RELATIONS, Entity, question_fields, read_fact
from textgym.protocol import call_text, submit_text
from textgym.task import Task, TaskItem, ToolCall
from textgym.tools.search import (
    load_from_disk,
)

__all__ = [
    "QAPair",
    "QATask",
    "WikiSearchTask",
    "answer_aliases",
    "exact_match",
    "load_qa",
    "normalize_answer",
    "score_answer",
]

# ---- scoring ---------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
# TriviaQA's punctuation set: ASCII punctuation plus four quote marks.
_TRIVIAQA_PUNCT = frozenset(string.punctuation + "\u2018\u2019\u00b4`")


def normalize_answer(text: str) -> str:
    """TriviaQA's answer normalisation: underscores to spaces, lowercase, punctuation to
    spaces, articles (a, an, the) removed, whitespace collapsed.

    One extension: every Unicode punctuation character (category P*) counts as
    punctuation, not only TriviaQA's ASCII set, so curly quotes and dashes from a model
    do not break a match.
    """
    text = text.replace("_", " ").lower()
    text = "".join(
        " " if ch in _TRIVIAQA_PUNCT or unicodedata.category(ch).startswith("P") else ch
        for ch in text
    )
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(answer: str | None, aliases: Sequence[str]) -> bool:
    """Whether ``answer`` (a final turn's text, an optional ``Result=`` prefix allowed)
    equals any alias after :func:`normalize_answer`. An answer that normalises to nothing
    (``"the"``, ``"..."``) never matches."""
    if answer is None:
        return False
    submitted = normalize_answer(read_answer(answer))
    return bool(submitted) and any(submitted == normalize_answer(a) for a in aliases)


def score_answer(answer: str | None, aliases: Sequence[str]) -> float:
    """The reward of a final answer: 1.0 for a TriviaQA-normalised exact match with any
    alias (:func:`exact_match`), else 0.0. Range ``[0, 1]``; partial credit is never given,
    so a turn listing several guesses scores 0."""
    return 1.0 if exact_match(answer, aliases) else 0.0


class _AliasScoring(Task):
    """Scoring shared by the generated and the file-based tasks: :func:`score_answer`
    against ``item.data["answers"]``."""

    def score(self, item: TaskItem, answer: str | None) -> float:
        return score_answer(answer, item.data["answers"])


# ---- the generated encyclopedia task ---------------------------------------------------


def answer_aliases(kind: str, relation: str, value: str) -> list[str]:
    """Accepted spellings of ``value``, the ``relation`` of a ``kind`` entity, canonical
    first: a person's surname alone and "Surname, First"; an organisation's distinctive
    word; a population with or without thousands separators; "X region", "X river"."""
    target = RELATIONS[kind][relation].target
    if target == "person":
        first, surname = value.split(" ", 1)
        return [value, surname, f"{surname}, {first}"]
    if target == "org":
        return [value, value.split(" ", 1)[0]]
    if relation == "population":
        return [value, value.replace(",", "")]
    if relation == "region":
        return [value, f"{value} region"]
    if relation == "river":
        return [value, f"{value} river", f"River {value}"]
    return [value]


def _keywords(kind: str, relation: str, entity: Entity | None = None) -> str:
    words = RELATIONS[kind][relation].keywords
    return words.format(**question_fields(entity)) if entity is not None else words


# Chained relations must have plain keywords: the oracle builds the second query from a
# name it read, without looking the entity up.
assert all(
    "{" not in RELATIONS[RELATIONS[c.kind][c.first].target][c.second].keywords for c in MULTI_HOP
)


class WikiSearchTask(_AliasScoring):
    """Questions about a generated encyclopedia, single- or multi-hop.

    Args:
        seed: dataset seed; also the encyclopedia's seed.
        test_size: items in the fixed test split (200).
        entities: number of entities (articles) in the encyclopedia (2,000).
        multi_hop: probability that a question is two-hop (0.5).

    ``item.data`` holds ``path`` (the ``[kind, relation]`` hops), ``subject`` (the entity
    the question names), ``answers`` (aliases, canonical first) and ``queries`` (the first
    hop's search keywords). Scoring: 1.0 for a TriviaQA-normalised exact match with any
    alias (:func:`exact_match`), else 0.0.
    """

    name = "wiki"

    def __init__(
        self, seed: int = 0, test_size: int = 200, entities: int = 2000, multi_hop: float = 0.5
    ):
        super().__init__(seed=seed, test_size=test_size)
        if not 0.0 <= float(multi_hop) <= 1.0:
            raise ValueError(f"multi_hop must be a probability in [0, 1], got {multi_hop!r}")
        self.entities = entities
        self.multi_hop = float(multi_hop)
        self.encyclopedia: Encyclopedia = generate_encyclopedia(seed, entities)
        # (kind, relation) pairs in a fixed order, for uniform single-hop draws.
        self._single = [(kind, rel) for kind in sorted(RELATIONS) for rel in RELATIONS[kind]]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "entities": self.entities,
            "multi_hop": self.multi_hop,
            "generator": GENERATOR_VERSION,
        }

    def generate(self, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
        enc = self.encyclopedia
        if rng.random() < self.multi_hop:
            chain = MULTI_HOP[rng.randrange(len(MULTI_HOP))]
            pool = enc.by_kind[chain.kind]
            subject = pool[rng.randrange(len(pool))]
            bridge_kind = RELATIONS[chain.kind][chain.first].target
            assert bridge_kind is not None
            bridge = enc.by_name[subject.facts[chain.first]]
            value = bridge.facts[chain.second]
            question = chain.question.format(**question_fields(subject))
            path = [[chain.kind, chain.first], [bridge_kind, chain.second]]
            answers = answer_aliases(bridge_kind, chain.second, value)
        else:
            kind, relation = self._single[rng.randrange(len(self._single))]
            pool = enc.by_kind[kind]
            subject = pool[rng.randrange(len(pool))]
            value = subject.facts[relation]
            question = RELATIONS[kind][relation].question.format(**question_fields(subject))
            question = question[:1].upper() + question[1:]
            path = [[kind, relation]]
            answers = answer_aliases(kind, relation, value)
        data = {
            "path": path,
            "subject": subject.name,
            "answers": answers,
            "query": f"{subject.name} {_keywords(path[0][0], path[0][1], subject)}",
        }
        return question, answers[0], data

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        """Search each hop, read the value from the subject's own result, search again
        with what was read; submit the last value. Nothing is taken from the item's
        answer: a misread would fail the episode (and the test split's 100%)."""
        path = item.data["path"]
        current = item.data["subject"]
        hop = 0
        for call in calls:
            if hop >= len(path) or call.name != "Wiki" or not call.ok:
                continue
            kind, relation = path[hop]
            value = read_fact(call.data or [], kind, relation, current)
            if value is not None:  # else the same hop is searched again
                current, hop = value, hop + 1
        if hop < len(path):
            kind, relation = path[hop]
            query = item.data["query"] if hop == 0 else f"{current} {_keywords(kind, relation)}"
            return call_text("Wiki", query)
        return submit_text(current)


# ---- questions from a QA file ----------------------------------------------------------


@dataclass(frozen=True)
class QAPair:
    """One question with its accepted answers (canonical first), and optionally the
    search query the oracle should use (default: the question)."""

    question: str
    answers: tuple[str, ...]
    query: str | None = None


def _qa_answers(record: Mapping[str, Any], where: str) -> tuple[str, ...]:
    raw = record.get("answers", record.get("answer"))
    if isinstance(raw, Mapping):  # TriviaQA's {"value": ..., "aliases": [...]}
        value, aliases = raw.get("value"), raw.get("aliases") or []
        raw = ([value] if value else []) + list(aliases)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, (list, tuple)) or not raw or not all(isinstance(a, str) for a in raw):
        raise ValueError(
            f"{where}: 'answers' must be a non-empty list of strings (or 'answer': a string "
            "or TriviaQA's {'value', 'aliases'})"
        )
    unique: list[str] = []
    for answer in raw:
        if answer.strip() and answer not in unique:
            unique.append(answer)
    if not unique:
        raise ValueError(f"{where}: every answer is empty")
    return tuple(unique)


def load_qa(source: str | os.PathLike[str] | Iterable[Mapping[str, Any]]) -> list[QAPair]:
    """QA pairs from a JSONL file or an iterable of dicts (a ``datasets.Dataset`` works).

    Each record has ``question`` and ``answers`` (a list; ``answer`` as a string or as
    TriviaQA's ``{"value", "aliases"}`` is accepted too) and optionally ``query``.
    Questions are de-duplicated (first wins) so that splits are disjoint by question. A
    directory is read as a ``datasets`` dataset saved with ``save_to_disk`` (``datasets``
    is imported only then).
    """
    if isinstance(source, (str, os.PathLike)) and Path(source).expanduser().is_dir():
        source = load_from_disk(Path(source).expanduser())
    if isinstance(source, Mapping):
        raise TypeError(
            f"qa is a mapping with keys {sorted(map(str, source))[:5]}; pass one split, "
            "e.g. qa=dataset['validation']"
        )
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"QA file {str(path)!r} does not exist")
        records: list[tuple[str, Any]] = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{path.name} line {number}"
                try:
                    records.append((where, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: invalid JSON ({exc.msg})") from None
    else:
        records = [(f"QA record {i}", record) for i, record in enumerate(source)]
    pairs: list[QAPair] = []
    seen: set[str] = set()
    for where, record in records:
        if not isinstance(record, Mapping):
            raise ValueError(f"{where}: expected an object with 'question' and 'answers'")
        question, query = record.get("question"), record.get("query")
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"{where}: 'question' must be a non-empty string")
        if query is not None and not isinstance(query, str):
            raise ValueError(f"{where}: 'query' must be a string")
        answers = _qa_answers(record, where)
        if question not in seen:
            seen.add(question)
            pairs.append(QAPair(question.strip(), answers, query))
    if len(pairs) < 2:
        raise ValueError("a QA set needs at least 2 distinct questions (a test and a train one)")
    return pairs


class QATask(_AliasScoring):
    """Questions from a QA file over a real corpus.

    Args:
        qa: a JSONL path or an iterable of records (see :func:`load_qa`).
        seed: dataset seed: which questions form the test split.
        test_size: items in the test split; default ``min(200, n // 2)``. The rest are the
            train pool.

    The questions are shuffled once with the seed; the first ``test_size`` are the test
    split and train item ``i`` draws from the others, so the splits never share a question.
    The oracle searches the question (or the record's ``query``) and submits the first
    alias that appears in the response, else the canonical answer: on a real corpus it is
    a reference with knowledge of the answer, not proof that search suffices.
    """

    name = "wiki-qa"

    def __init__(
        self,
        qa: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
        seed: int = 0,
        test_size: int | None = None,
    ):
        pairs = load_qa(qa)
        if test_size is None:
            test_size = min(200, len(pairs) // 2)
        if not isinstance(test_size, int) or not 1 <= test_size < len(pairs):
            raise ValueError(
                f"test_size must be in [1, {len(pairs) - 1}] for {len(pairs)} questions "
                f"(some must remain for training), got {test_size!r}"
            )
        super().__init__(seed=seed, test_size=test_size)
        self.pairs = pairs
        digest = hashlib.sha256()
        for pair in pairs:
            digest.update(json.dumps([pair.question, pair.answers, pair.query]).encode())
        self.qa_fingerprint = digest.hexdigest()
        order = list(range(len(pairs)))
        random.Random(f"{json.dumps(self.config(), sort_keys=True)}|split").shuffle(order)
        self._test_order, self._train_order = order[:test_size], order[test_size:]

    def config(self) -> dict[str, Any]:
        return {**super().config(), "qa": self.qa_fingerprint}

    def _item(self, split: str, index: int, pair_index: int) -> TaskItem:
        pair = self.pairs[pair_index]
        data = {"answers": list(pair.answers), "query": pair.query or pair.question}
        return TaskItem(split, index, pair.question, pair.answers[0], data)

    def draw_test_items(self) -> list[TaskItem]:
        return [self._item("test", i, p) for i, p in enumerate(self._test_order)]

    def draw_train_item(self, index: int) -> TaskItem:
        # The train questions are the ones outside the test order: no redraws needed.
        rng = self.item_rng("train", index, 0)
        return self._item("train", index, self._train_order[rng.randrange(len(self._train_order))])

    def oracle_turn(self, item: TaskItem, calls: Sequence[ToolCall]) -> str:
        searches = [call for call in calls if call.name == "Wiki" and call.ok]
        if not searches:
            return call_text("Wiki", item.data["query"])
        shown = " ".join(f"{hit['title']} {hit['text']}" for hit in searches[-1].data or [])
        response = " " + normalize_answer(shown) + " "
        for alias in item.data["answers"]:
            if f" {normalize_answer(alias)} " in response:
                return submit_text(alias)
        return submit_text(item.answer)
