"""An embedded search engine: SQLite FTS5 with BM25 ranking, and the ``<Wiki>`` tool on it.

TRL's TriviaQA example called a remote BM25 service over Wikipedia. This module needs no
service and no network: a corpus of ``(title, text)`` documents is indexed once into a
SQLite file (FTS5, Porter stemming, BM25 with the title weighted 10x), and queries run
against that file in well under a millisecond on the default corpus.

The index file
--------------
* **Built once, atomically.** The index is written to a temporary file in the target
  directory and moved into place with :func:`os.replace`, so a reader never sees a
  half-built index. Builders take an exclusive ``flock`` on ``<index>.lock`` and check
  again before building, so the workers of an ``AsyncVectorEnv`` that all find the file
  missing build it once; where ``flock`` is unavailable they each build and the last
  rename wins (same content, still never a torn file).
* **Reused while the corpus is unchanged.** The ``meta`` table stores the corpus
  fingerprint (a SHA-256 of the documents, or of the JSONL file's bytes) and the index
  format version. Opening checks both and rebuilds on a mismatch.
* **Corruption is detected and repaired.** Before use, a file must have a valid SQLite
  header whose page count matches the file size (truncation), pass ``PRAGMA quick_check``
  (damaged pages), and hold complete metadata with the right document count. Anything else,
  including a missing or unreadable file, triggers a rebuild. A damaged page that only a
  query touches is caught too: the search rebuilds once and retries.
* **Never another corpus's index.** A connection checks the stored fingerprint when it
  opens, in case another process replaced the file after it was checked.
* **Cached per process.** A file that passed the checks is not checked again in the same
  process while its inode, size and mtime are unchanged, so building many environments on
  one index costs a ``stat`` and a ``connect`` each.

The default location is ``$TEXTGYM_CACHE/search``, else ``$XDG_CACHE_HOME/textgym/search``,
else ``~/.cache/textgym/search``; an unwritable cache falls back to the temp directory.

Queries
-------
Agent queries are untrusted text. They never reach FTS5's query language: a query is cut
to :data:`MAX_QUERY_CHARS`, split into alphanumeric terms, stripped of English stopwords
(unless nothing else is left), de-duplicated, capped at :data:`MAX_QUERY_TERMS`, and each
term is quoted, joined with ``OR``. So quotes, ``*``, ``^``, ``:``, ``NEAR``, ``AND``,
parentheses, control characters and lone surrogates are plain text or dropped, and a query
with no terms is answered with a short error, never an exception.

Results
-------
The top ``k`` documents by BM25, each as its title and a snippet. On large corpora a term
that matches a large share of the documents (:data:`COMMON_TERM_SHARE`) is left out of the
*ranking*: it costs a scan of its whole posting list while its IDF barely moves the order
(a name decides it). When the rarer terms alone match fewer than ``k`` documents, the least
common of the left-out terms are added back, rarest first, until they match ``k``; so the
top hit is the exact BM25 one and the last places are filled cheaply. Every term is still
used to choose each snippet. ``common_term_share=None`` ranks by exact BM25.

The snippet is the sentence that holds the most distinct query terms not already in the
title (then the most query terms, then the earliest), cut around the first hit when long.
A sentence rather than FTS5's fixed token window because a reader (an agent, or the oracle)
needs a whole statement, not a fragment cut mid-clause. The response is capped in tokens:
results are added while they fit ``max_tokens`` under the environment's tokenizer, and only
the first is ever shortened to fit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from textgym.checks import positive_int
from textgym.tokenizer import encode_text
from textgym.tool import Tool, ToolError, ToolOutput

__all__ = [
    "Corpus",
    "DocumentsCorpus",
    "JsonlCorpus",
    "SearchHit",
    "SearchIndex",
    "WikiSearch",
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

#: Bumped whenever the schema, tokenizer or ranking changes: old files are rebuilt.
INDEX_FORMAT = "textgym-fts5-v1"
#: FTS5 tokenizer: Porter stemming over Unicode words, accents folded.
TOKENIZER = "porter unicode61 remove_diacritics 2"
#: BM25 column weights (title, text): a query naming an entity should find its article.
TITLE_WEIGHT, TEXT_WEIGHT = 10.0, 1.0
#: A longer query is cut to this many characters before it is read.
MAX_QUERY_CHARS = 1000
#: At most this many distinct terms are searched (each one costs a posting-list scan).
MAX_QUERY_TERMS = 32
#: A single term is cut to this many characters.
MAX_TERM_CHARS = 64
#: A term found in more than this share of the documents, and in more than
#: :data:`COMMON_TERM_MIN_DOCS` of them, is left out of the ranking when the query has
#: rarer terms (it still picks the snippet sentence). Ranking cost grows with the number of
#: documents matched, and such a term matches many while adding little to BM25 (its IDF is
#: at most log 9, against 5 to 12 for a name): this keeps queries like "<name> born"
#: sub-millisecond on 200,000 documents instead of ~50 ms.
COMMON_TERM_SHARE = 0.1
#: Below this many matches a term is cheap to rank, so small corpora rank by exact BM25.
COMMON_TERM_MIN_DOCS = 1000

#: Dropped from queries unless the query has nothing else: they match most documents, so
#: they cost a scan of most of the index and barely change the BM25 order.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours out over own s same she should so some such t than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with would you your yours""".split()
)

_TERM = re.compile(r"[^\W_]+")  # runs of letters and digits; everything else separates
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_HIT_OPEN, _HIT_CLOSE = "\x01", "\x02"  # highlight() markers; removed from the output
_HIT = re.compile(f"{_HIT_OPEN}(.*?){_HIT_CLOSE}", re.DOTALL)
_SQLITE_MAGIC = b"SQLite format 3\x00"


# ---- queries ---------------------------------------------------------------------------


def sanitize_query(
    query: Any,
    *,
    max_chars: int = MAX_QUERY_CHARS,
    max_terms: int = MAX_QUERY_TERMS,
) -> list[str]:
    """The search terms of an untrusted query: lowercase alphanumeric runs, stopwords
    dropped (unless only stopwords are left), de-duplicated in order, capped. Never raises;
    an empty list means there is nothing to search for."""
    text = query if isinstance(query, str) else str(query)
    terms: list[str] = []
    seen: set[str] = set()
    for match in _TERM.finditer(text[:max_chars]):
        term = match.group().lower()[:MAX_TERM_CHARS]
        if term not in seen:
            seen.add(term)
            terms.append(term)
    content = [term for term in terms if term not in STOPWORDS]
    return (content or terms)[:max_terms]


def match_expression(terms: Iterable[str]) -> str:
    """An FTS5 MATCH expression for terms from :func:`sanitize_query`: each quoted (a
    string, so never an operator or column filter), joined with OR for BM25 ranking."""
    return " OR ".join(f'"{term}"' for term in terms)


# ---- corpora ---------------------------------------------------------------------------


class Corpus:
    """A collection of ``(title, text)`` documents with a content fingerprint.

    Subclasses implement :meth:`documents` and set ``fingerprint`` (equal fingerprints
    promise equal documents) and ``name`` (used for the default index file name).
    """

    name: str = "corpus"
    fingerprint: str = ""

    def documents(self) -> Iterator[tuple[str, str]]:
        """Yield ``(title, text)`` pairs, in a fixed order."""
        raise NotImplementedError

    def default_index_name(self) -> str:
        """The file name of this corpus's index in the cache directory."""
        return f"{_safe_name(self.name)}.sqlite"


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return cleaned[:80] or "corpus"


def _document(record: Any, where: str) -> tuple[str, str]:
    """One document from a mapping with ``title``/``text`` or a ``(title, text)`` pair."""
    if isinstance(record, Mapping):
        title, text = record.get("title"), record.get("text")
    elif isinstance(record, (tuple, list)) and len(record) == 2:
        title, text = record
    else:
        raise ValueError(f"{where}: expected a dict with 'title' and 'text', got {record!r:.80}")
    if not isinstance(title, str) or not isinstance(text, str):
        raise ValueError(f"{where}: 'title' and 'text' must both be strings")
    return title, text


class DocumentsCorpus(Corpus):
    """Documents held in memory (a list, or anything iterable more than once).

    A ``datasets.Dataset`` works as is (duck-typed: an iterable of dicts with ``title`` and
    ``text``); its ``_fingerprint`` is used when present, so an unchanged dataset is not
    read again just to be recognised.

    Args:
        documents: dicts with ``title`` and ``text``, or ``(title, text)`` pairs. A
            one-shot iterator is read into a list first.
        name: a label for the default index file name.
        fingerprint: a known content fingerprint; computed from the documents if omitted.
    """

    def __init__(
        self, documents: Iterable[Any], name: str | None = None, fingerprint: str | None = None
    ):
        if isinstance(documents, Iterator):  # a generator can be read only once
            documents = list(documents)
        self._source = documents
        dataset_fp = getattr(documents, "_fingerprint", None)
        if fingerprint is None and isinstance(dataset_fp, str) and dataset_fp:
            fingerprint = "datasets:" + dataset_fp
        if fingerprint is None:
            digest = hashlib.sha256()
            for title, text in self.documents():
                digest.update(json.dumps([title, text], ensure_ascii=False).encode("utf-8"))
                digest.update(b"\n")
            fingerprint = digest.hexdigest()
        self.fingerprint = fingerprint
        # Content-addressed by default: no stable identity exists for an in-memory corpus.
        self.name = name or f"docs-{hashlib.sha256(fingerprint.encode()).hexdigest()[:16]}"

    def documents(self) -> Iterator[tuple[str, str]]:
        for i, record in enumerate(self._source):
            yield _document(record, f"document {i}")


# (path, device, inode, size, mtime_ns, ctime_ns) -> SHA-256 of a corpus file, so that the
# envs of one process hash a large JSONL file once, not once each.
_FILE_FINGERPRINTS: dict[tuple[str, int, int, int, int, int], str] = {}


def _file_fingerprint(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    fingerprint = _FILE_FINGERPRINTS.get(key)
    if fingerprint is None:
        digest = hashlib.sha256(b"jsonl\n")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        fingerprint = _FILE_FINGERPRINTS[key] = digest.hexdigest()
    return fingerprint


class JsonlCorpus(Corpus):
    """A JSONL file, one ``{"title": ..., "text": ...}`` object per line (blank lines are
    skipped; extra keys are ignored). The fingerprint is the SHA-256 of the file's bytes,
    so editing the file rebuilds its index.

    Raises:
        FileNotFoundError: when the file does not exist.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_file():
            raise FileNotFoundError(f"corpus file {str(self.path)!r} does not exist")
        self.fingerprint = _file_fingerprint(self.path)
        # Same file path, same index file: a changed file is rebuilt in place, not added.
        path_hash = hashlib.sha256(str(self.path).encode()).hexdigest()[:12]
        self.name = f"jsonl-{self.path.stem}-{path_hash}"

    def documents(self) -> Iterator[tuple[str, str]]:
        with open(self.path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                where = f"{self.path.name} line {number}"
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: invalid JSON ({exc.msg})") from None
                yield _document(record, where)


def load_from_disk(path: str | os.PathLike[str]) -> Any:
    """A ``datasets`` dataset saved with ``save_to_disk``; ``datasets`` is imported only
    here, so it stays an optional dependency."""
    try:
        import datasets  # optional: imported on use only
    except ImportError:
        raise ImportError(
            f"{str(path)!r} is a directory, read as a saved `datasets` dataset, but the "
            "`datasets` package is not installed: pip install datasets (or pass a JSONL file)"
        ) from None
    return datasets.load_from_disk(str(path))


def load_corpus(source: Corpus | str | os.PathLike[str] | Iterable[Any]) -> Corpus:
    """A :class:`Corpus` from a corpus, a JSONL path, a directory holding a ``datasets``
    dataset saved with ``save_to_disk``, or an iterable of documents (a list of dicts, a
    ``datasets.Dataset``)."""
    if isinstance(source, Corpus):
        return source
    if isinstance(source, (str, os.PathLike)):
        if Path(source).expanduser().is_dir():
            return load_corpus(load_from_disk(Path(source).expanduser()))
        return JsonlCorpus(source)
    if isinstance(source, Mapping):  # a datasets.DatasetDict: one split is the corpus
        raise TypeError(
            f"corpus is a mapping with keys {sorted(map(str, source))[:5]}; pass one split, "
            "e.g. corpus=dataset['train']"
        )
    if isinstance(source, Iterable):
        return DocumentsCorpus(source)
    raise TypeError(
        "corpus must be a JSONL path, an iterable of {'title', 'text'} dicts (e.g. a "
        f"datasets.Dataset) or a textgym Corpus, got {type(source).__name__}"
    )


# ---- the index file --------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``$TEXTGYM_CACHE``, else ``$XDG_CACHE_HOME/textgym``, else ``~/.cache/textgym``."""
    explicit = os.environ.get("TEXTGYM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "textgym"
    return Path.home() / ".cache" / "textgym"


def _writable_dir(preferred: Path) -> Path:
    """``preferred``, created if needed; a per-user temp directory (with a warning saying
    why) when it cannot be."""
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        if os.access(preferred, os.W_OK | os.X_OK):
            return preferred
        problem = "not writable"
    except OSError as exc:
        problem = f"cannot be created ({exc.strerror or exc})"
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = Path(tempfile.gettempdir()) / f"textgym-{uid}" / "search"
    fallback.mkdir(parents=True, exist_ok=True)
    warnings.warn(
        f"search index cache {str(preferred)!r} {problem}; using {str(fallback)!r}. Set "
        "TEXTGYM_CACHE to a writable directory to keep indexes across reboots",
        RuntimeWarning,
        stacklevel=3,
    )
    return fallback


def _header_ok(path: Path) -> bool:
    """A cheap truncation check: the SQLite header's page count times the page size must
    equal the file size (a valid header records its page count; see the file format,
    offsets 16, 24, 28 and 92)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError:
        return False
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return False
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] != header[92:96] or pages == 0:
        return True  # page count not recorded (old writer); quick_check decides
    return size == page_size * pages


def _connect_ro(path: Path) -> sqlite3.Connection:
    # Read-only: a query can never modify the shared file. check_same_thread=False so a
    # tool can be used from a worker thread; each env owns its own connection.
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _index_problem(path: Path, fingerprint: str) -> str | None:
    """Why the file at ``path`` is not a usable index of ``fingerprint`` (None if it is)."""
    if not path.exists():
        return "missing"
    if not _header_ok(path):
        return "truncated or not a SQLite file"
    try:
        con = _connect_ro(path)
        try:
            check = con.execute("PRAGMA quick_check").fetchall()
            if check != [("ok",)]:
                return "corrupt: " + "; ".join(str(row[0]) for row in check[:3])
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("format") != INDEX_FORMAT:
                return f"format {meta.get('format')!r} is not {INDEX_FORMAT!r}"
            if meta.get("fingerprint") != fingerprint:
                return "corpus changed"
            if meta.get("complete") != "1":
                return "incomplete"
            (count,) = con.execute("SELECT count(*) FROM docs").fetchone()
            if str(count) != meta.get("documents"):
                return "document count mismatch"
        finally:
            con.close()
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"
    return None


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_temp_files(directory: Path, stem: str, older_than_s: float = 3600.0) -> None:
    """Remove temp files of builds that died (another live build's file is younger)."""
    now = time.time()
    for stale in directory.glob(f".{stem}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > older_than_s:
                stale.unlink()


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``<path>.lock`` across processes (``flock``; where it does not
    exist, no lock: the atomic rename alone still keeps the file valid). Workers of a vector
    env that all find the index missing then build it once, not once each."""
    try:
        import fcntl  # POSIX only
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        handle = open(path.with_name(path.name + ".lock"), "a+b")
    except OSError:  # read-only directory: build without the lock
        yield
        return
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some NFS): rely on the rename
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _require_fts5(con: sqlite3.Connection) -> None:
    try:
        con.execute("CREATE VIRTUAL TABLE temp.fts5_probe USING fts5(x)")
        con.execute("DROP TABLE temp.fts5_probe")
    except sqlite3.OperationalError as exc:
        raise RuntimeError(
            f"this Python's SQLite {sqlite3.sqlite_version} has no FTS5 ({exc}); the Wiki "
            "search needs it: use a Python whose sqlite3 has FTS5 (python.org and most "
            "Linux builds do), or install pysqlite3-binary"
        ) from None


def build_index(corpus: Corpus, path: Path, batch_size: int = 2000) -> int:
    """Write the index of ``corpus`` to ``path`` atomically; return the document count.

    The index is built in a temp file in the same directory (same file system, so the
    final :func:`os.replace` is an atomic rename), flushed to disk, then renamed over
    ``path``. On any error the temp file is removed and ``path`` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_files(path.parent, path.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        con = sqlite3.connect(tmp)
        try:
            # No journal, no syncs while building: the file is private until the rename,
            # and a crash only leaves a temp file behind.
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            _require_fts5(con)
            con.execute(
                f"CREATE VIRTUAL TABLE docs USING fts5(title, text, tokenize='{TOKENIZER}')"
            )
            # A persistent rank lets queries use FTS5's own ORDER BY rank path.
            con.execute(
                "INSERT INTO docs(docs, rank) VALUES('rank', ?)",
                (f"bm25({TITLE_WEIGHT}, {TEXT_WEIGHT})",),
            )
            con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            count = 0
            batch: list[tuple[str, str]] = []
            # Shown only when the build takes more than a few seconds (a real corpus).
            with tqdm(desc=f"indexing {corpus.name}", unit=" docs", delay=3.0) as progress:
                for document in corpus.documents():
                    batch.append(document)
                    if len(batch) >= batch_size:
                        con.executemany("INSERT INTO docs(title, text) VALUES (?, ?)", batch)
                        count += len(batch)
                        progress.update(len(batch))
                        batch = []
                if batch:
                    con.executemany("INSERT INTO docs(title, text) VALUES (?, ?)", batch)
                    count += len(batch)
                    progress.update(len(batch))
            # Merge the b-tree segments: fewer segments, faster queries.
            con.execute("INSERT INTO docs(docs) VALUES('optimize')")
            meta = {
                "format": INDEX_FORMAT,
                "fingerprint": corpus.fingerprint,
                "documents": str(count),
                "name": corpus.name,
                "sqlite_version": sqlite3.sqlite_version,
                "complete": "1",
            }
            con.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", sorted(meta.items()))
            con.commit()
        finally:
            con.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return count


@dataclass(frozen=True)
class SearchHit:
    """One search result: the document's title, its best sentence, and its BM25 rank
    (lower is better, as FTS5 reports it)."""

    title: str
    snippet: str
    rank: float


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
            self.path = _writable_dir(base / "search") / self.corpus.default_index_name()
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
                problem = _index_problem(self.path, fingerprint)
            else:
                problem = force_reason
            if problem is not None:
                _VERIFIED.pop(key, None)
                before = _signature(self.path)
                with _build_lock(self.path):
                    # A forced rebuild is skipped only if another process replaced the
                    # damaged file meanwhile (and the new one passes the checks).
                    replaced = force_reason is None or _signature(self.path) != before
                    if not replaced or _index_problem(self.path, fingerprint) is not None:
                        build_index(self.corpus, self.path)
                        self.built = True
                        self.rebuild_reason = problem
            signature = _signature(self.path)
            if signature is not None:
                _VERIFIED[key] = (*signature, fingerprint)

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            con = _connect_ro(self.path)
            # The file may have been replaced since it was checked (another process
            # rebuilt it for a changed corpus): never answer from another corpus's index.
            row = con.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
            if row is None or row[0] != self.corpus.fingerprint:
                con.close()
                self._ensure(force_reason="replaced by an index of another corpus")
                con = _connect_ro(self.path)
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
                title=_clean(title),
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
                (_HIT_OPEN, _HIT_CLOSE, full, rowid),
            ).fetchone()
            rows.append((title, text, rank))
        return rows

    def _query_all(self, terms: list[str], k: int) -> list[tuple[str, str, float]]:
        sql = (
            "SELECT title, highlight(docs, 1, ?, ?), rank FROM docs "
            "WHERE docs MATCH ? ORDER BY rank LIMIT ?"
        )
        params = (_HIT_OPEN, _HIT_CLOSE, match_expression(terms), k)
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


def _clean(text: str) -> str:
    return " ".join(text.replace(_HIT_OPEN, "").replace(_HIT_CLOSE, "").split())


def best_sentence(highlighted: str, max_chars: int = 200, title: str = "") -> str:
    """The best sentence of a ``highlight()``-marked text, at most ``max_chars`` characters
    (cut around its first hit).

    Best means the most distinct hits on query words that are *not* in ``title``, then the
    most distinct hits overall, then the earliest. The title is shown next to the snippet,
    so the snippet should cover the rest of the query: for "Eiffel Tower completed" the
    sentence saying when the tower was completed, not the first one naming the tower.
    With no hit in the text (a title-only match), the first sentence.
    """
    title_words = {word.lower() for word in _TERM.findall(title)}
    best, best_score = "", (-1, -1)
    for sentence in _SENTENCE_END.split(highlighted):
        if not sentence.strip():
            continue
        hits = {hit.lower() for hit in _HIT.findall(sentence)}
        score = (len(hits - title_words), len(hits))
        if score > best_score:
            best, best_score = sentence, score
    first_hit = best.find(_HIT_OPEN)
    text = _clean(best)
    if len(text) <= max_chars:
        return text
    # Centre the window a little before the first hit, on word boundaries.
    before = _clean(best[: max(first_hit, 0)])
    start = max(0, len(before) - max_chars // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 20 else start
    end = min(len(text), start + max_chars - 6)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + max_chars // 2 else end
    return ("..." if start else "") + text[start:end].strip() + ("..." if end < len(text) else "")


def format_hits(
    hits: list[SearchHit],
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> str:
    """Render hits as ``[1] Title\nsnippet`` blocks, capped at ``max_tokens`` (the text of
    :func:`render_hits`)."""
    return render_hits(hits, max_tokens=max_tokens, count_tokens=count_tokens)[0]


def render_hits(
    hits: list[SearchHit],
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[str, list[dict[str, str]]]:
    """The response text, ``[1] Title\nsnippet`` blocks capped at ``max_tokens``, and the
    hits it shows as ``{"title", "text"}`` records (the tool's structured data).

    Whole results are dropped from the end to fit; the first result alone is shortened
    (snippet, then title) when even it does not fit, so the response is never empty. The
    records hold exactly what the text shows, shortened hit included: a reader of the data
    knows no more than the agent reading the text.
    """
    count = count_tokens or (lambda s: len(s.encode("utf-8")))
    shown = [{"title": hit.title, "text": hit.snippet} for hit in hits]
    blocks = [f"[{i}] {hit['title']}\n{hit['text']}" for i, hit in enumerate(shown, 1)]
    if max_tokens is None:
        return "\n".join(blocks), shown
    response, kept = "", 0
    for block in blocks:
        candidate = f"{response}\n{block}" if response else block
        if count(candidate) <= max_tokens:
            response, kept = candidate, kept + 1
        elif not response:
            response = _shorten_to_fit(block, max_tokens, count)
            title, _, text = response.removeprefix("[1] ").partition("\n")
            return response, [{"title": title, "text": text}] if response else []
        else:
            break
    return response, shown[:kept]


def _shorten_to_fit(text: str, max_tokens: int, count: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` plus ``...`` that fits (binary search on length)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if count(text[:mid].rstrip() + "...") <= max_tokens:
            low = mid
        else:
            high = mid - 1
    return text[:low].rstrip() + "..." if low else ""


# ---- the tool --------------------------------------------------------------------------


class WikiSearch(Tool):
    """The ``<Wiki>`` tool: keyword search over an encyclopedia.

    ``WikiSearch(index).run("Anna Vorkel born")`` returns the top ``k`` articles as the
    response text::

        [1] Anna Vorkel
        Anna Vorkel was born in Ostrevale in 1801.
        [2] ...

    and, as the result's ``data``, the hits that text shows:
    ``[{"title": "Anna Vorkel", "text": "Anna Vorkel was born in Ostrevale in 1801."}, ...]``
    (an empty list for no results).

    Args:
        index: a :class:`SearchIndex`, or a corpus to index (see :func:`load_corpus`).
        k: number of results (3).
        max_tokens: cap on the response in tokens (None: no cap beyond
            ``max_output_chars``); environments set it to their ``max_response_tokens``.
        count_tokens: token counter for the cap (default: UTF-8 bytes, exact for ByT5).
        snippet_chars: most characters of each snippet (200).
    """

    name = "Wiki"
    # Short: the system prompt carries it into every episode's context.
    description = "keyword search; returns top articles, each a title and its best sentence"
    max_output_chars = 8000

    def __init__(
        self,
        index: SearchIndex | Corpus | str | os.PathLike[str] | Iterable[Any],
        *,
        k: int = 3,
        max_tokens: int | None = None,
        count_tokens: Callable[[str], int] | None = None,
        snippet_chars: int = 200,
    ):
        positive_int("k", k)
        self.index = index if isinstance(index, SearchIndex) else SearchIndex(index)
        self.k = k
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens
        self.snippet_chars = snippet_chars

    def __call__(self, query: str) -> ToolOutput:
        terms = sanitize_query(query)
        if not terms:
            raise ToolError("empty query: write a few keywords, e.g. a name and what you want")
        hits = self.index.search(query, self.k, snippet_chars=self.snippet_chars)
        if not hits:
            return ToolOutput(f"No results for: {' '.join(terms)}", [])
        text, shown = render_hits(hits, max_tokens=self.max_tokens, count_tokens=self.count_tokens)
        return ToolOutput(text, shown)

    def bind(self, tokenizer: Any, max_response_tokens: int) -> None:
        """Fill the response with whole results up to the env's cap, counted in the env's
        tokens, so the env's own cut (mid-snippet, with ``...``) is never needed. Settings
        given to the constructor are kept."""
        if self.max_tokens is None:
            self.max_tokens = max_response_tokens
        if self.count_tokens is None:
            self.count_tokens = TokenCounter(tokenizer)

    def close(self) -> None:
        self.index.close()


class TokenCounter:
    """Counts tokens of tool output the way an env encodes it (picklable, unlike a
    lambda, so a tool bound to an env still goes to a subprocess vector env)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def __call__(self, text: str) -> int:
        return len(encode_text(self.tokenizer, text))
