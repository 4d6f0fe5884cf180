"""An embedded search engine: SQLite FTS5 with BM25 ranking, and the ``<Wiki>`` tool on it.

TRL's TriviaQA example called a remote BM25 service over Wikipedia. This package needs no
service and no network: a corpus of ``(title, text)`` documents is indexed once into a
SQLite file (FTS5, Porter stemming, BM25 with the title weighted 10x), and queries run
against that file in well under a millisecond on the default corpus.

One module per job, imported in this order (each uses only those above it):

* :mod:`~textgym.tools.search.query`: untrusted query text to quoted FTS5 terms, never an
  operator; a query with no terms is answered with a short error, never an exception.
* :mod:`~textgym.tools.search.corpus`: where documents come from (memory, JSONL, a saved
  ``datasets`` dataset) and the fingerprint that says when to rebuild.
* :mod:`~textgym.tools.search.index_file`: the SQLite file: cache location, integrity
  checks, the atomic, locked build.
* :mod:`~textgym.tools.search.render`: each hit's best sentence and the token-capped
  response text.
* :mod:`~textgym.tools.search.index`: :class:`SearchIndex`, opened or (re)built on
  construction, with BM25 queries that skip very common terms on large corpora.
* :mod:`~textgym.tools.search.tool`: :class:`WikiSearch`, the ``<Wiki>`` tool.
"""

from textgym.tools.search.corpus import (
    Corpus,
    DocumentsCorpus,
    JsonlCorpus,
    load_corpus,
    load_from_disk,
)
from textgym.tools.search.index import COMMON_TERM_MIN_DOCS, COMMON_TERM_SHARE, SearchIndex
from textgym.tools.search.index_file import INDEX_FORMAT, build_index, default_cache_dir
from textgym.tools.search.query import (
    MAX_QUERY_CHARS,
    MAX_QUERY_TERMS,
    STOPWORDS,
    match_expression,
    sanitize_query,
)
from textgym.tools.search.render import SearchHit, best_sentence, format_hits, render_hits
from textgym.tools.search.tool import TokenCounter, WikiSearch

__all__ = [
    "Corpus",
    "DocumentsCorpus",
    "JsonlCorpus",
    "SearchHit",
    "SearchIndex",
    "TokenCounter",
    "WikiSearch",
    "best_sentence",
    "build_index",
    "default_cache_dir",
    "format_hits",
    "render_hits",
    "load_corpus",
    "load_from_disk",
    "match_expression",
    "sanitize_query",
    "COMMON_TERM_MIN_DOCS",
    "COMMON_TERM_SHARE",
    "INDEX_FORMAT",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "STOPWORDS",
]
