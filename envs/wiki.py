"""``TextEnv-WikiSearch-v0``: answer questions by searching an encyclopedia.

TRL's TriviaQA example, made offline and reproducible: the ``<Wiki>`` tool is an embedded
BM25 search engine (SQLite FTS5, :mod:`textgym.tools.search`), and the default corpus is a
generated encyclopedia of fictional entities (:mod:`textgym.envs.wiki_corpus`), so no answer
can come from a model's memorised knowledge. Questions are single-hop ("In what year was
the Vantari Guild founded?") or multi-hop ("In which city was the founder of the Vantari
Guild born?"), scored by TriviaQA-style normalised exact match against answer aliases.

Real corpora plug in with ``corpus=`` (a JSONL file of ``{"title", "text"}`` lines, a
``datasets.Dataset`` or any iterable of such dicts, or a dataset directory saved with
``save_to_disk``) and ``qa=`` (the same shapes, of ``{"question", "answers"}`` records).
"""

from __future__ import annotations

import os
from typing import Any

from textgym.env import TextEnv
from textgym.envs.wiki_corpus import GENERATOR_VERSION
from textgym.envs.wiki_tasks import (
    QAPair,
    QATask,
    WikiSearchTask,
    answer_aliases,
    exact_match,
    load_qa,
    normalize_answer,
    score_answer,
)
from textgym.task import Task
from textgym.tools.search import (
    DocumentsCorpus,
    SearchIndex,
    WikiSearch,
    load_corpus,
)

# The tasks and their scoring are part of this env's API (defined in wiki_tasks).
__all__ = [
    "QAPair",
    "QATask",
    "WikiSearchEnv",
    "WikiSearchTask",
    "answer_aliases",
    "exact_match",
    "load_qa",
    "normalize_answer",
    "score_answer",
]

# ---- the environment -------------------------------------------------------------------


class WikiSearchEnv(TextEnv):
    """Question answering with a search engine over an encyclopedia.

    ## Description

    The agent is asked a question about a generated encyclopedia of 2,000 fictional people,
    cities, organisations, works and events, and may call the ``Wiki`` tool, a BM25 search
    engine (SQLite FTS5) that returns the top 3 articles, each a title and its
    best-matching sentence. Multi-hop questions need two searches, the second built from
    what the first returned::

        In which city was the founder of the Vantari Guild born?
        <request><Wiki>Vantari Guild founded<call>[1] Vantari Guild
        The Vantari Guild was founded in 1843 by Anna Vorkel.
        [2] ...<response><request><Wiki>Anna Vorkel born<call>[1] Anna Vorkel
        Anna Vorkel was born in Ostrevale in 1801.<response>Result=Ostrevale<submit>

    Articles include distractor facts (a rival's birthplace, a sister organisation's
    founding), so the right sentence of the right article has to be read.

    ## Action Space

    ``Sequence(Discrete(V), stack=True)``: one agent turn of token ids (V = 263 with the
    default ByT5 tokenizer). See :class:`textgym.TextEnv` for how turns are cut and read.

    ## Observation Space

    ``Sequence(Discrete(V), stack=True)``: the whole context so far; ``info["agent_mask"]``
    marks agent tokens.

    ## Rewards

    1.0 when the final answer (``Result=<answer>``) matches one of the question's answer
    aliases after TriviaQA normalisation (lowercase, punctuation and articles removed,
    whitespace collapsed), else 0.0 (:func:`score_answer`; range ``[0, 1]``). Optional
    shaping (``tool_bonus``, ``invalid_call_penalty``) is off by default.

    ## Starting State

    A question from the task: a random train item, or a test item by index. Half of the
    generated questions are two-hop.

    ## Episode End

    Terminated at the first final answer; truncated after ``max_turns`` (4) turns or at
    ``max_context`` (2048) tokens.

    ## Arguments

    - ``seed`` (0): dataset seed, which is also the encyclopedia's seed; ``test_size``
      (200; with ``qa=``, ``min(200, n // 2)``).
    - ``entities`` (2000): size of the generated encyclopedia; ``multi_hop`` (0.5): share
      of two-hop questions.
    - ``corpus`` (None): a real corpus instead: a JSONL path (``{"title", "text"}`` per
      line), an iterable of such dicts (a ``datasets.Dataset``), or a directory saved
      with ``Dataset.save_to_disk`` (``datasets`` is imported only then). Needs ``qa``:
      a JSONL path, iterable or saved dataset of ``{"question", "answers"}`` records
      (TriviaQA's ``"answer": {"value", "aliases"}`` works too; an optional ``"query"``
      is the oracle's search).
    - ``k`` (3): results per search; ``snippet_chars`` (200): longest snippet.
    - ``index_path`` (None): the index file; default in the cache directory
      (``$TEXTGYM_CACHE``, ``$XDG_CACHE_HOME/textgym`` or ``~/.cache/textgym``), or
      under ``cache_dir`` when given. Built once (atomically, one builder at a time
      across processes), reused while the corpus is unchanged, rebuilt when it changes
      or the file is damaged.
    - ``max_response_tokens`` (400): the cap on a search response, in tokens.
    - ``tool_format`` ("markers"): TRL's markers, or "chat" (the tokenizer's chat template
      with JSON tool calls; see :class:`textgym.TextEnv`).
    - Every :class:`textgym.TextEnv` keyword (``tokenizer``, ``max_turns``, ...).

    ## Version History

    - v0: initial release.
    - ``tool_format`` added later (default "markers": unchanged).
    """

    def __init__(
        self,
        seed: int = 0,
        test_size: int | None = None,
        entities: int = 2000,
        multi_hop: float = 0.5,
        corpus: Any = None,
        qa: Any = None,
        k: int = 3,
        snippet_chars: int = 200,
        index_path: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_turns: int = 4,
        max_context: int = 2048,
        max_response_tokens: int = 400,
        **kwargs: Any,
    ):
        task: Task
        if corpus is None:
            if qa is not None:
                raise ValueError(
                    "qa= needs corpus=: questions from a QA file are answered from that "
                    "file's corpus, not from the generated encyclopedia"
                )
            generated = WikiSearchTask(
                seed=seed,
                test_size=200 if test_size is None else test_size,
                entities=entities,
                multi_hop=multi_hop,
            )
            enc = generated.encyclopedia
            documents = DocumentsCorpus(
                enc.articles,
                name=f"wiki-generated-v{GENERATOR_VERSION}-seed{seed}-n{entities}",
                fingerprint=enc.fingerprint,
            )
            task = generated
        else:
            if qa is None:
                raise ValueError(
                    "corpus= needs qa=: a JSONL file (or iterable) of {'question', "
                    "'answers'} records to ask about it"
                )
            task = QATask(qa, seed=seed, test_size=test_size)
            documents = load_corpus(corpus)
        index = SearchIndex(documents, index_path, cache_dir=cache_dir)
        self.search_tool = WikiSearch(index, k=k, snippet_chars=snippet_chars)
        try:
            super().__init__(
                task,
                [self.search_tool],
                max_turns=max_turns,
                max_context=max_context,
                max_response_tokens=max_response_tokens,
                **kwargs,
            )
        except BaseException:
            index.close()
            raise

    @property
    def index(self) -> SearchIndex:
        """The search index the ``Wiki`` tool queries."""
        return self.search_tool.index
