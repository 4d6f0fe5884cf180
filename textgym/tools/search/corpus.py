"""Corpora: where the documents come from (memory, a JSONL file, a saved ``datasets``
dataset), each with a content fingerprint that decides when its index is rebuilt."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["Corpus", "DocumentsCorpus", "JsonlCorpus", "load_corpus", "load_from_disk"]


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
