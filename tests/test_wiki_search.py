"""The embedded search engine behind TextEnv-WikiSearch-v0 (textgym.tools.search): query
sanitisation (malformed and fuzzed queries), results and their token cap, and the index
file's life cycle (atomic build, reuse, rebuild on change or damage, concurrent builders).
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing
import pickle
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgym.envs.wiki_corpus import (
    generate_encyclopedia,
)
from textgym.tools import search
from textgym.tools.search import (
    MAX_QUERY_TERMS,
    DocumentsCorpus,
    JsonlCorpus,
    SearchIndex,
    WikiSearch,
    default_cache_dir,
    format_hits,
    index_file,
    match_expression,
    render_hits,
    sanitize_query,
)
from textgym.tools.search import index as search_index

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "examples" / "wiki_tiny"
CORPUS, QA = TINY / "corpus.jsonl", TINY / "qa.jsonl"


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory):
    index = SearchIndex(CORPUS, tmp_path_factory.mktemp("tiny") / "tiny.sqlite")
    yield index
    index.close()


@pytest.fixture(scope="module")
def tiny_tool(tiny_index):
    return WikiSearch(tiny_index, k=3, max_tokens=400)


def _copy_corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    shutil.copy(CORPUS, path)
    return path


# ---- query sanitisation ----------------------------------------------------------------

MALFORMED = [
    "",
    "   ",
    "\n\t",
    '"',
    '"eiffel tower',
    'eiffel" tower"',
    '""""',
    "AND",
    "OR NOT",
    "eiffel AND",
    "NEAR(eiffel tower, 2)",
    "*",
    "eiff*",
    "^tower",
    "title:eiffel",
    "{title text}:paris",
    "(((",
    ")))paris",
    "-paris",
    "+paris",
    "'",
    "\\",
    "\x00",
    "eiffel\x00tower",
    "\ud800",
    "tower \udfff paris",
    "\U0001f600",
    "the of and",
    "a" * 10_000,
    "paris " * 2_000,
    "é" * 5_000,
    "Ünïcödé Tôwér",
    "NEAR",
    "-",
    ":",
    "!@#$%^&*()_+={}[]|;'<>,.?/~`",
    "__init__",
    "１２３",
]


@pytest.mark.parametrize("query", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_queries_never_raise(tiny_tool, query):
    result = tiny_tool.run(query)
    assert isinstance(result.response, str) and result.response
    terms = sanitize_query(query)
    if terms:
        assert result.ok
    else:
        assert not result.ok and "empty query" in result.response


def test_only_stopwords_still_search(tiny_tool):
    assert sanitize_query("The of and") == ["the", "of", "and"]
    assert sanitize_query("the Eiffel tower") == ["eiffel", "tower"]
    assert tiny_tool.run("the of and").ok


def test_long_queries_are_capped(tiny_tool):
    words = " ".join(f"w{i}" for i in range(5000))
    assert len(sanitize_query(words)) == MAX_QUERY_TERMS
    assert sanitize_query("x" * 10_000) == ["x" * search.query.MAX_TERM_CHARS]
    assert tiny_tool.run("eiffel tower " + "z" * 10_000).response.startswith("[1] Eiffel Tower")


def test_fts5_operators_are_plain_text():
    assert match_expression(sanitize_query('NEAR("a" b) AND title:c*')) == (
        '"near" OR "b" OR "title" OR "c"'
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=400))
def test_fuzzed_queries_never_raise(tiny_tool, query):
    terms = sanitize_query(query)
    assert len(terms) <= MAX_QUERY_TERMS
    assert all(term.isalnum() for term in terms)
    result = tiny_tool.run(query)
    assert isinstance(result.response, str) and result.response
    assert result.ok == bool(terms)
    hits = tiny_tool.index.search(query, 3)  # the engine itself, not only the tool wrapper
    assert len(hits) <= 3


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="\"*^:()-+{}[] ANDORTNEAR\\'eifltowr0123\x00", max_size=200))
def test_fuzzed_fts5_syntax_never_raises(tiny_tool, query):
    result = tiny_tool.run(query)
    assert result.ok == bool(sanitize_query(query))


# ---- search results --------------------------------------------------------------------


def test_results_are_titles_with_best_sentences(tiny_tool):
    result = tiny_tool.run("Eiffel Tower completed")
    response, hits = result.response, result.data
    assert hits[0]["title"] == "Eiffel Tower"
    # The sentence with the query's non-title word, not the first one naming the tower.
    assert "completed in 1889" in hits[0]["text"]
    # The data holds exactly what the text shows.
    assert response.startswith(f"[1] {hits[0]['title']}\n{hits[0]['text']}")
    assert "\x01" not in response and "\x02" not in response


def test_no_results_is_a_plain_answer(tiny_tool):
    result = tiny_tool.run("zzyzx qwxyz")
    assert result.ok and result.response == "No results for: zzyzx qwxyz"


def test_response_is_capped_in_tokens_by_whole_results(tiny_index):
    hits = tiny_index.search("paris tower", 3)
    assert len(hits) == 3
    full = format_hits(hits)
    one = format_hits(hits, max_tokens=len(full.split("\n[2]")[0].encode()) + 5)
    assert one == full.split("\n[2]")[0]
    tiny = format_hits(hits, max_tokens=20)
    assert 0 < len(tiny.encode()) <= 20 and tiny.endswith("...")
    # A custom counter (tokens = words) is honoured.
    words = format_hits(hits, max_tokens=12, count_tokens=lambda s: len(s.split()))
    assert len(words.split()) <= 12


def test_the_structured_hits_are_the_hits_the_capped_text_shows(tiny_index):
    hits = tiny_index.search("paris tower", 3)
    full = format_hits(hits)
    text, shown = render_hits(hits, max_tokens=len(full.split("\n[2]")[0].encode()) + 5)
    assert [h["title"] for h in shown] == [hits[0].title]
    text, shown = render_hits(hits, max_tokens=20)
    assert len(shown) == 1 and text == f"[1] {shown[0]['title']}" + (
        f"\n{shown[0]['text']}" if shown[0]["text"] else ""
    )
    assert render_hits(hits)[1] == [{"title": h.title, "text": h.snippet} for h in hits]


def test_common_terms_do_not_change_the_top_hit(monkeypatch):
    monkeypatch.setattr(search_index, "COMMON_TERM_MIN_DOCS", 100)  # prune on 2,000 documents
    enc = generate_encyclopedia(0, 2000)
    docs = DocumentsCorpus(enc.articles)
    pruned = SearchIndex(docs)
    exact = SearchIndex(docs, common_term_share=None)
    people = enc.by_kind["person"]
    assert pruned._ranking_terms(sanitize_query(f"{people[0].name} born"), 1)[-1] != "born"
    for person in people[:: len(people) // 40]:
        query = f"{person.name} born"
        assert pruned.search(query, 1)[0].title == person.name
        assert exact.search(query, 1)[0].title == person.name
        # The common word still chooses the snippet.
        assert "was born in" in pruned.search(query, 1)[0].snippet
    # Rare terms that match fewer than k documents: the rarest common term is added back,
    # the top hit is still the exact one and k results come back.
    lonely = next(
        e for e in enc.by_kind["event"] if pruned.document_frequency(e.name.split()[0].lower()) == 1
    )
    query = f"{lonely.name.split()[0]} born took"
    root, born, took = sanitize_query(query)
    assert pruned.document_frequency(took) < pruned.document_frequency(born)
    assert pruned._ranking_terms([root, born, took], 3) == [root, took]
    hits = pruned.search(query, 3)
    assert len(hits) == 3 and hits[0].title == exact.search(query, 1)[0].title == lonely.name
    pruned.close()
    exact.close()


# ---- the index file: build, reuse, rebuild ---------------------------------------------


def test_built_once_then_reused(tmp_path):
    path = tmp_path / "idx.sqlite"
    first = SearchIndex(CORPUS, path)
    assert first.built and first.rebuild_reason == "missing" and first.documents == 12
    inode = path.stat().st_ino
    search_index._VERIFIED.clear()  # as a new process would: full checks, then reuse
    second = SearchIndex(CORPUS, path)
    assert not second.built and path.stat().st_ino == inode
    third = SearchIndex(CORPUS, path)  # cached check in this process
    assert not third.built
    assert [h.title for h in third.search("Beethoven", 1)] == ["Ludwig van Beethoven"]
    for index in (first, second, third):
        index.close()
    assert not list(tmp_path.glob("*.tmp"))


def test_rebuilt_when_the_corpus_changes(tmp_path):
    corpus = _copy_corpus(tmp_path)
    path = tmp_path / "idx.sqlite"
    SearchIndex(corpus, path).close()
    with open(corpus, "a") as handle:
        handle.write(json.dumps({"title": "Qwertyland", "text": "Qwertyland is an island."}))
    changed = SearchIndex(corpus, path)
    assert changed.built and changed.rebuild_reason == "corpus changed"
    assert changed.documents == 13 and changed.search("qwertyland", 1)[0].title == "Qwertyland"
    changed.close()


def test_default_path_is_stable_per_jsonl_file_and_in_the_cache(tmp_path):
    corpus = _copy_corpus(tmp_path)
    index = SearchIndex(corpus)
    assert index.path.parent == tmp_path / "cache" / "search"
    package = Path(search.__file__).resolve().parents[2]  # never inside textgym itself
    assert package not in index.path.resolve().parents
    with open(corpus, "a") as handle:
        handle.write(json.dumps({"title": "Extra", "text": "More text."}) + "\n")
    again = SearchIndex(corpus)
    assert again.path == index.path and again.built  # same file, rebuilt in place
    assert len(list((tmp_path / "cache" / "search").glob("*.sqlite"))) == 1
    index.close()
    again.close()


def _damage_truncate(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _damage_pages(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # garbage over every page but the first
        handle.seek(4096)
        handle.write(bytes((i * 131 + 17) % 256 for i in range(size - 4096)))


def _damage_header(path: Path) -> None:
    with open(path, "r+b") as handle:
        handle.write(b"this is not a database")


def _damage_empty(path: Path) -> None:
    path.write_bytes(b"")


def _damage_delete(path: Path) -> None:
    path.unlink()


def _damage_meta(path: Path) -> None:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value='0' WHERE key='complete'")
    con.commit()
    con.close()


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_damage_truncate, "truncated"),
        (_damage_pages, ""),
        (_damage_header, ""),
        (_damage_empty, "truncated"),
        (_damage_delete, "missing"),
        (_damage_meta, "incomplete"),
    ],
    ids=["truncated", "corrupt-pages", "garbage-header", "empty", "missing", "incomplete"],
)
def test_damaged_index_is_detected_and_rebuilt(tmp_path, damage, reason):
    path = tmp_path / "idx.sqlite"
    SearchIndex(CORPUS, path).close()
    damage(path)
    repaired = SearchIndex(CORPUS, path)
    assert repaired.built and reason in repaired.rebuild_reason
    assert repaired.search("Ganymede moon", 1)[0].title == "Jupiter"
    repaired.close()
    assert index_file.index_problem(path, repaired.corpus.fingerprint) is None


def test_damage_found_while_querying_is_repaired(tmp_path):
    path = tmp_path / "idx.sqlite"
    index = SearchIndex(CORPUS, path)
    _damage_pages(path)  # after the checks, under an open connection
    hits = index.search("Analytical Engine Babbage", 1)
    assert hits and hits[0].title == "Ada Lovelace"
    assert index.rebuild_reason.startswith("query failed")
    index.close()


def test_failed_build_leaves_the_old_index_and_no_temp_file(tmp_path):
    corpus = _copy_corpus(tmp_path)
    path = tmp_path / "idx.sqlite"
    SearchIndex(corpus, path).close()
    before = path.read_bytes()
    with open(corpus, "a") as handle:
        handle.write("{not json\n")
    with pytest.raises(ValueError, match="line 13: invalid JSON"):
        SearchIndex(corpus, path)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def test_concurrent_builders_in_separate_processes(tmp_path):
    """Separate interpreters (as spawned vector-env workers) opening a missing index: one
    builds it under the lock, the others wait and reuse it."""
    path = tmp_path / "idx.sqlite"
    code = textwrap.dedent(
        f"""
        from textgym.tools.search import SearchIndex
        index = SearchIndex({str(CORPUS)!r}, {str(path)!r})
        print(index.built, index.search("Mona Lisa painted", 1)[0].title)
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [proc.communicate(timeout=120)[0].strip() for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert sorted(outs) == ["False Mona Lisa", "False Mona Lisa", "True Mona Lisa"]
    assert index_file.index_problem(path, JsonlCorpus(CORPUS).fingerprint) is None
    assert not list(tmp_path.glob(".*.tmp"))


def _open_after_barrier(corpus, path, barrier, results):
    try:
        barrier.wait(timeout=60)
        index = SearchIndex(corpus, path)
        name = generate_encyclopedia(0, 2000).by_kind["org"][0].name
        results.put((index.built, index.search(f"{name} founded", 1)[0].title == name))
    except Exception as exc:  # noqa: BLE001 - reported to the test, not lost in the child
        results.put(("error", repr(exc)))


@pytest.mark.parametrize("locked", [True, False], ids=["flock", "rename-only"])
def test_simultaneous_builders_never_corrupt_the_index(tmp_path, monkeypatch, locked):
    """Four forked processes released together on a missing 2,000-article index. With the
    lock one builds; without it (platforms with no flock) several build at once and the
    atomic rename still leaves one valid file, which every process can query."""
    if not locked:
        monkeypatch.setattr(search_index, "build_lock", lambda path: contextlib.nullcontext())
    enc = generate_encyclopedia(0, 2000)  # generated before the fork: the children share it
    corpus = DocumentsCorpus(enc.articles, name="race", fingerprint=enc.fingerprint)
    path = tmp_path / "race.sqlite"
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_open_after_barrier, args=(corpus, path, barrier, results))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert all(proc.exitcode == 0 for proc in procs)
    assert all(found is True for _, found in outcomes), outcomes
    builds = sum(built is True for built, _ in outcomes)
    assert builds == 1 if locked else builds >= 1
    assert index_file.index_problem(path, enc.fingerprint) is None
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_index_replaced_by_another_corpus_is_never_read(tmp_path):
    """Another process rebuilt the shared file for a different corpus after this one
    checked it: the next connection notices and rebuilds this corpus's index."""
    path = tmp_path / "idx.sqlite"
    mine = SearchIndex(CORPUS, path)
    mine.close()
    other = SearchIndex([{"title": "Other", "text": "Nothing about planets."}], path)
    other.close()
    hits = mine.search("Ganymede moon", 1)
    assert hits and hits[0].title == "Jupiter"
    assert mine.rebuild_reason == "replaced by an index of another corpus"
    mine.close()


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTGYM_CACHE", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("TEXTGYM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "textgym"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "textgym"


def test_unwritable_cache_falls_back_to_temp(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TEXTGYM_CACHE", str(blocker))
    with pytest.warns(RuntimeWarning, match="TEXTGYM_CACHE"):
        index = SearchIndex(CORPUS)
    assert blocker not in index.path.parents and index.search("Bonn", 1)
    index.close()


def test_index_pickles_closes_and_reopens(tiny_index):
    clone = pickle.loads(pickle.dumps(tiny_index))
    deep = copy.deepcopy(tiny_index)
    for index in (clone, deep):
        assert index.search("Warsaw", 1)[0].title == "Marie Curie"
        index.close()
        index.close()  # idempotent
        assert index.search("Warsaw", 1)[0].title == "Marie Curie"  # reconnects
        index.close()


# ---- corpora ---------------------------------------------------------------------------


class FakeDataset:
    """What the tool needs of a ``datasets.Dataset``: iteration over dicts, a fingerprint."""

    def __init__(self, rows, fingerprint="abc123"):
        self.rows = rows
        self._fingerprint = fingerprint
        self.iterations = 0

    def __iter__(self):
        self.iterations += 1
        return iter(self.rows)


def test_in_memory_and_dataset_like_corpora(tmp_path):
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    listed = SearchIndex(rows, tmp_path / "list.sqlite")
    assert listed.search("Ganymede", 1)[0].title == "Jupiter"
    generated = SearchIndex((row for row in rows), tmp_path / "gen.sqlite")  # one-shot
    assert generated.documents == 12
    dataset = FakeDataset(rows)
    first = SearchIndex(dataset, tmp_path / "ds.sqlite")
    assert first.corpus.fingerprint == "datasets:abc123" and dataset.iterations == 1
    again = SearchIndex(dataset, tmp_path / "ds.sqlite")
    assert not again.built and dataset.iterations == 1  # recognised without reading it
    changed = SearchIndex(FakeDataset(rows[:5], "def456"), tmp_path / "ds.sqlite")
    assert changed.built and changed.documents == 5
    for index in (listed, generated, first, again, changed):
        index.close()


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"title": "x"}], "document 0"),
        ([{"title": 1, "text": "x"}], "strings"),
        (["just text"], "expected a dict"),
    ],
)
def test_bad_documents_say_what_is_wrong(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        SearchIndex(rows, tmp_path / "bad.sqlite")


def test_missing_corpus_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SearchIndex(tmp_path / "nope.jsonl")


def test_directory_corpus_without_datasets_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install datasets"):
        SearchIndex(tmp_path)


def test_sqlite_without_fts5_is_a_clear_error():
    class NoFts5:
        def execute(self, sql):
            raise sqlite3.OperationalError("no such module: fts5")

    with pytest.raises(RuntimeError, match="no FTS5"):
        index_file.require_fts5(NoFts5())
