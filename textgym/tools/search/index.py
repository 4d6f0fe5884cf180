"""The index: a corpus's BM25 index opened (or built) on construction, and its queries.

* **Repaired when damaged.** Opening checks the file (:func:`index_problem`) and rebuilds
  it on any problem; a damaged page that only a query touches is caught too: the search
  rebuilds once and retries.
* **Never another corpus's index.** A connection checks the stored fingerprint when it
  opens, in case another process replaced the file after it was checked.
* **Checked once per process.** A file that passed the checks is not checked again in the
  same process while its inode, size and mtime are unchanged (``_VERIFIED``), so building
  many environments on one index costs a ``stat`` and a ``connect`` each.

On large corpora a term that matches a large share of the documents
(:data:`COMMON_TERM_SHARE`) is left out of the *ranking*: it costs a scan of its whole
posting list while its IDF barely moves the order (a name decides it). When the rarer
terms alone match fewer than ``k`` documents, the least common of the left-out terms are
added back, rarest first, until they match ``k``; so the top hit is the exact BM25 one and
the last places are filled cheaply. Every term is still used to choose each snippet.
``common_term_share=None`` ranks by exact BM25.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textgym.tools.search.corpus import Corpus, load_corpus
from textgym.tools.search.index_file import (
    build_index,
    build_lock,
    connect_read_only,
    default_cache_dir,
    index_problem,
    writable_dir,
)
from textgym.tools.search.query import match_expression, sanitize_query
from textgym.tools.search.render import HIT_CLOSE, HIT_OPEN, SearchHit, best_sentence, clean

__all__ = ["COMMON_TERM_MIN_DOCS", "COMMON_TERM_SHARE", "SearchIndex"]

#: A term found in more than this share of the documents, and in more than
#: :data:`COMMON_TERM_MIN_DOCS` of them, is left out of the ranking when the query has
#: rarer terms (it still picks the snippet sentence). Ranking cost grows with the number of
#: documents matched, and such a term matches many while adding little to BM25 (its IDF is
#: at most log 9, against 5 to 12 for a name): this keeps queries like "<name> born"
#: sub-millisecond on 200,000 documents instead of ~50 ms.
COMMON_TERM_SHARE = 0.1
#: Below this many matches a term is cheap to rank, so small corpora rank by exact BM25.
COMMON_TERM_MIN_DOCS = 1000

# path -> (device, inode, size, mtime_ns, ctime_ns, fingerprint) of a file that passed
# every check.
_VERIFIED: dict[str, tuple[int, int, int, int, int, str]] = {}
# (corpus fingerprint, term) -> number of documents containing the term. Bounded: cleared
# when full (a rare event; refilling costs one count per term).
_DOC_FREQ: dict[tuple[str, str], int] = {}
_DOC_FREQ_MAX = 100_000
_BUILD_LOCK = threading.Lock()


def _signature(path: Path) -> tuple[int, int, int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class SearchIndex:
    """A BM25 index of a corpus in a SQLite FTS5 file, opened (or built) on construction.

    Args:
        corpus: a :class:`Corpus`, a JSONL path, or an iterable of ``{"title", "text"}``
            dicts (see :func:`load_corpus`).
        path: the index file; default ``<cache dir>/search/<corpus name>.sqlite``.
        cache_dir: the cache directory when ``path`` is not given (default
            :func:`default_cache_dir`).
        common_term_share: terms in more than this share of the documents do not rank
            when the query has rarer ones (:data:`COMMON_TERM_SHARE`); ``None`` ranks by
            exact BM25 over every term.

    Attributes:
        path: the index file in use.
        built: whether this object (re)built the file rather than reusing it.
        rebuild_reason: why it was rebuilt (``"missing"``, ``"corpus changed"``, ...).
        documents: the number of indexed documents.
    """

    def __init__(
        self,
        corpus: Corpus | str | os.PathLike[str] | Iterable[Any],
        path: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        common_term_share: float | None = COMMON_TERM_SHARE,
    ):
        if common_term_share is not None and not 0.0 < common_term_share <= 1.0:
            raise ValueError(
                f"common_term_share must be in (0, 1] or None, got {common_term_share!r}"
            )
        self.common_term_share = common_term_share
        self.corpus = load_corpus(corpus)
        if path is None:
            base = Path(cache_dir).expanduser() if cache_dir is not None else None
            if base is None:
                try:
                    base = default_cache_dir()
                except RuntimeError:  # no home directory
                    base = Path(tempfile.gettempdir())
            self.path = writable_dir(base / "search") / self.corpus.default_index_name()
        else:
            self.path = Path(path).expanduser().resolve()
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.built = False
        self.rebuild_reason: str | None = None
        self._con: sqlite3.Connection | None = None
        self._ensure()
        self.documents = self._read_count()

    # ---- lifecycle ---------------------------------------------------------------------

    def _ensure(self, force_reason: str | None = None) -> None:
        """Make ``self.path`` a valid index of the corpus, building it if needed.

        Checks run without a lock (readers never wait on each other). A build takes the
        cross-process lock and checks again first: another process may have just built
        the same file, and then there is nothing left to do."""
        key = str(self.path)
        fingerprint = self.corpus.fingerprint
        with _BUILD_LOCK:
            if force_reason is None:
                signature = _signature(self.path)
                cached = _VERIFIED.get(key)
                if signature is not None and cached == (*signature, fingerprint):
                    return
                problem = index_problem(self.path, fingerprint)
            else:
                problem = force_reason
            if problem is not None:
                _VERIFIED.pop(key, None)
                before = _signature(self.path)
                with build_lock(self.path):
                    # A forced rebuild is skipped only if another process replaced the
                    # damaged file meanwhile (and the new one passes the checks).
                    replaced = force_reason is None or _signature(self.path) != before
                    if not replaced or index_problem(self.path, fingerprint) is not None:
                        build_index(self.corpus, self.path)
                        self.built = True
                        self.rebuild_reason = problem
            signature = _signature(self.path)
            if signature is not None:
                _VERIFIED[key] = (*signature, fingerprint)

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            con = connect_read_only(self.path)
            # The file may have been replaced since it was checked (another process
            # rebuilt it for a changed corpus): never answer from another corpus's index.
            row = con.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
            if row is None or row[0] != self.corpus.fingerprint:
                con.close()
                self._ensure(force_reason="replaced by an index of another corpus")
                con = connect_read_only(self.path)
            self._con = con
        return self._con

    def _read_count(self) -> int:
        row = self._connection().execute("SELECT value FROM meta WHERE key='documents'")
        return int(row.fetchone()[0])

    def close(self) -> None:
        """Close the connection (idempotent); a later search reopens it."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def __getstate__(self) -> dict[str, Any]:
        # sqlite3 connections do not pickle or deepcopy; the copy reconnects on first use.
        state = dict(self.__dict__)
        state["_con"] = None
        return state

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # ---- search ------------------------------------------------------------------------

    def search(self, query: str, k: int = 3, *, snippet_chars: int = 200) -> list[SearchHit]:
        """The top ``k`` documents for ``query`` by BM25, best first.

        Returns an empty list for a query with no searchable terms or no match. A damaged
        index found while querying is rebuilt and the query retried once.
        """
        terms = sanitize_query(query)
        if not terms or k < 1:
            return []
        try:
            rows = self._query(terms, k)
        except sqlite3.DatabaseError as exc:
            self.close()
            self._ensure(force_reason=f"query failed: {exc}")
            rows = self._query(terms, k)
        return [
            SearchHit(
                title=clean(title),
                snippet=best_sentence(text, snippet_chars, title),
                rank=rank,
            )
            for title, text, rank in rows
        ]

    def _query(self, terms: list[str], k: int) -> list[tuple[str, str, float]]:
        """``(title, highlighted text, rank)`` of the top ``k`` documents."""
        ranking = self._ranking_terms(terms, k)
        if ranking == terms:
            return self._query_all(terms, k)
        con = self._connection()
        full = match_expression(terms)
        # Rank on the rarer terms, then highlight each hit with every term (a rowid lookup
        # in the posting lists, not a scan) so the snippet still reflects the whole query.
        top = con.execute(
            "SELECT rowid, title, rank FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT ?",
            (match_expression(ranking), k),
        ).fetchall()
        if len(top) < k:  # fewer than k match at all: the full query finds the same set
            return self._query_all(terms, k)
        rows = []
        for rowid, title, rank in top:
            (text,) = con.execute(
                "SELECT highlight(docs, 1, ?, ?) FROM docs WHERE docs MATCH ? AND rowid = ?",
                (HIT_OPEN, HIT_CLOSE, full, rowid),
            ).fetchone()
            rows.append((title, text, rank))
        return rows

    def _query_all(self, terms: list[str], k: int) -> list[tuple[str, str, float]]:
        sql = (
            "SELECT title, highlight(docs, 1, ?, ?), rank FROM docs "
            "WHERE docs MATCH ? ORDER BY rank LIMIT ?"
        )
        params = (HIT_OPEN, HIT_CLOSE, match_expression(terms), k)
        return self._connection().execute(sql, params).fetchall()

    def _ranking_terms(self, terms: list[str], k: int) -> list[str]:
        """The terms to rank on: the rare ones, plus the least common others (rarest
        first) while the rare ones cannot match ``k`` documents; in query order."""
        if self.common_term_share is None or len(terms) < 2:
            return terms
        limit = max(self.common_term_share * self.documents, COMMON_TERM_MIN_DOCS)
        freq = {term: self.document_frequency(term) for term in terms}
        chosen = {term for term in terms if freq[term] <= limit}
        if not chosen:
            return terms
        # At least max(df) documents match an OR of terms; sum(df) is the most they can.
        common = sorted((t for t in terms if t not in chosen), key=lambda t: (freq[t], t))
        while common and sum(freq[t] for t in chosen) < k:
            chosen.add(common.pop(0))
        return [term for term in terms if term in chosen]

    def document_frequency(self, term: str) -> int:
        """How many documents contain ``term`` (one sanitised term); cached per process."""
        key = (self.corpus.fingerprint, term)
        count = _DOC_FREQ.get(key)
        if count is None:
            row = self._connection().execute(
                "SELECT count(*) FROM docs WHERE docs MATCH ?", (match_expression([term]),)
            )
            count = int(row.fetchone()[0])
            if len(_DOC_FREQ) >= _DOC_FREQ_MAX:
                _DOC_FREQ.clear()
            _DOC_FREQ[key] = count
        return count

    def __repr__(self) -> str:
        return f"SearchIndex(path={str(self.path)!r}, documents={self.documents})"
