"""The index file: where it lives, how it is checked, and how it is built atomically.

* **Built once, atomically.** The index is written by SQLite to a temporary file in the
  target directory and moved into place (:func:`textgym.fileio.atomic_replace`), so a
  reader never sees a half-built index. Builders take an exclusive ``flock`` on
  ``<index>.lock`` and check again before building, so the workers of an
  ``AsyncVectorEnv`` that all find the file missing build it once; where ``flock`` is
  unavailable they each build and the last rename wins (same content, still never a torn
  file).
* **Reused while the corpus is unchanged.** The ``meta`` table stores the corpus
  fingerprint and the index format version (:data:`INDEX_FORMAT`); :func:`index_problem`
  checks both.
* **Corruption is detected.** A usable file has a valid SQLite header whose page count
  matches the file size (truncation), passes ``PRAGMA quick_check`` (damaged pages), and
  holds complete metadata with the right document count.

The default location is ``$TEXTGYM_CACHE/search``, else ``$XDG_CACHE_HOME/textgym/search``,
else ``~/.cache/textgym/search``; an unwritable cache falls back to the temp directory.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm

from textgym.fileio import atomic_replace, remove_stale_temp_files
from textgym.tools.search.corpus import Corpus

__all__ = [
    "INDEX_FORMAT",
    "TOKENIZER",
    "build_index",
    "build_lock",
    "connect_read_only",
    "default_cache_dir",
    "index_problem",
    "require_fts5",
    "writable_dir",
]

#: Bumped whenever the schema, tokenizer or ranking changes: old files are rebuilt.
INDEX_FORMAT = "textgym-fts5-v1"
#: FTS5 tokenizer: Porter stemming over Unicode words, accents folded.
TOKENIZER = "porter unicode61 remove_diacritics 2"
#: BM25 column weights (title, text): a query naming an entity should find its article.
TITLE_WEIGHT, TEXT_WEIGHT = 10.0, 1.0

_SQLITE_MAGIC = b"SQLite format 3\x00"


def default_cache_dir() -> Path:
    """``$TEXTGYM_CACHE``, else ``$XDG_CACHE_HOME/textgym``, else ``~/.cache/textgym``."""
    explicit = os.environ.get("TEXTGYM_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "textgym"
    return Path.home() / ".cache" / "textgym"


def writable_dir(preferred: Path) -> Path:
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


def connect_read_only(path: Path) -> sqlite3.Connection:
    # Read-only: a query can never modify the shared file. check_same_thread=False so a
    # tool can be used from a worker thread; each env owns its own connection.
    return sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)


def index_problem(path: Path, fingerprint: str) -> str | None:
    """Why the file at ``path`` is not a usable index of ``fingerprint`` (None if it is)."""
    if not path.exists():
        return "missing"
    if not _header_ok(path):
        return "truncated or not a SQLite file"
    try:
        con = connect_read_only(path)
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


@contextlib.contextmanager
def build_lock(path: Path) -> Iterator[None]:
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


def require_fts5(con: sqlite3.Connection) -> None:
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

    SQLite builds it in a temporary file beside ``path`` that replaces ``path`` only once
    complete (:func:`~textgym.fileio.atomic_replace`); on any error ``path`` is left as
    it was. Temporary files of builds that died are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(path.parent, path.name)
    with atomic_replace(path) as tmp:
        con = sqlite3.connect(tmp)
        try:
            # No journal, no syncs while building: the file is private until the rename,
            # and a crash only leaves a temp file behind.
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            require_fts5(con)
            con.execute(
                f"CREATE VIRTUAL TABLE docs USING fts5(title, text, tokenize='{TOKENIZER}')"
            )
            # A persistent rank lets queries use FTS5's own ORDER BY rank path.
            con.execute(
                "INSERT INTO docs(docs, rank) VALUES('rank', ?)",
                (f"bm25({TITLE_WEIGHT}, {TEXT_WEIGHT})",),
            )
            con.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            count = _insert_documents(con, corpus, batch_size)
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
    return count


def _insert_documents(con: sqlite3.Connection, corpus: Corpus, batch_size: int) -> int:
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
    return count
