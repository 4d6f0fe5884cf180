"""Scale benchmark of the embedded search engine behind ``TextEnv-WikiSearch-v0``.

For each corpus size (default 10,000 and 200,000 generated articles) it measures:

* corpus generation time and the index build time (SQLite FTS5, BM25; the atomic build
  the env uses, into a fresh temp directory);
* opening the index: the first open in a process (header, ``quick_check`` and metadata
  checks) and a cached re-open (what every further env construction pays);
* query latency, p50 / p99 / mean / max, of the ``Wiki`` tool (sanitising, ranking, snippet
  and formatting included) for two query mixes: the oracle's keyword queries (``"<name>
  <relation word>"``) and the raw question texts (what an untrained agent might type);
* retrieval quality: how often the queried entity's article is the first result.

Results go to ``benchmarks/results/wiki_scale.json``. Usage::

    python benchmarks/wiki_scale.py                       # 10k and 200k documents
    python benchmarks/wiki_scale.py --sizes 10000 --queries 500
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import textgym
from textgym.envs.wiki import WikiSearchTask
from textgym.envs.wiki_corpus import generate_encyclopedia
from textgym.tools import search
from textgym.tools.search import DocumentsCorpus, SearchIndex, WikiSearch

ROOT = Path(__file__).resolve().parents[1]


def _percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)

    def pct(q: float) -> float:
        # Nearest-rank percentile: an observed value, no interpolation.
        return ms[min(len(ms) - 1, max(0, round(q / 100 * len(ms)) - 1))]

    return {
        "p50_ms": round(pct(50), 4),
        "p99_ms": round(pct(99), 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "max_ms": round(ms[-1], 4),
        "n": len(ms),
    }


def _queries(size: int, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(query, expected top title) pairs: oracle keyword queries and raw questions, from
    the same question generator as the env (train split, so any size works)."""
    task = WikiSearchTask(seed=0, test_size=1, entities=size)
    rng = random.Random(f"wiki-scale|{size}")
    keyword, question = [], []
    for _ in range(n):
        item = task.item("train", rng.randrange(2**31 - 1))
        keyword.append((item.data["query"], item.data["subject"]))
        question.append((item.question, item.data["subject"]))
    return keyword, question


def _measure(tool: WikiSearch, queries: list[tuple[str, str]]) -> dict[str, Any]:
    for query, _ in queries[:50]:  # warm the page cache, as a running env would be
        tool.run(query)
    times, top1 = [], 0
    for query, expected in tqdm(queries, desc="queries", unit=" q", leave=False):
        started = time.perf_counter()
        result = tool.run(query)
        times.append(time.perf_counter() - started)
        hits = result.data or []
        top1 += bool(hits) and hits[0]["title"] == expected
    return {**_percentiles(times), "top1_is_subject": round(top1 / len(queries), 4)}


def bench(size: int, n_queries: int, workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    enc = generate_encyclopedia(0, size)
    generate_s = time.perf_counter() - started
    corpus = DocumentsCorpus(enc.articles, name=f"bench-{size}", fingerprint=enc.fingerprint)
    path = workdir / f"bench-{size}.sqlite"

    started = time.perf_counter()
    index = SearchIndex(corpus, path)
    build_s = time.perf_counter() - started
    assert index.built and index.documents == size
    index.close()

    search.index._VERIFIED.clear()  # forget this process's check: measure a first open
    started = time.perf_counter()
    SearchIndex(corpus, path).close()
    open_cold_s = time.perf_counter() - started
    started = time.perf_counter()
    reopened = SearchIndex(corpus, path)
    open_cached_s = time.perf_counter() - started
    assert not reopened.built

    tool = WikiSearch(reopened, k=3, max_tokens=400)
    keyword, question = _queries(size, n_queries)
    result = {
        "documents": size,
        "corpus_mb": round(sum(len(t) + len(x) for t, x in enc.articles) / 1e6, 2),
        "generate_s": round(generate_s, 3),
        "build_s": round(build_s, 3),
        "index_mb": round(path.stat().st_size / 1e6, 2),
        "open_first_s": round(open_cold_s, 4),
        "open_cached_ms": round(open_cached_s * 1000, 3),
        "query_keywords": _measure(tool, keyword),
        "query_questions": _measure(tool, question),
    }
    tool.close()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 200_000])
    parser.add_argument("--queries", type=int, default=2000, help="queries per mix and size")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "wiki_scale.json"
    )
    args = parser.parse_args(argv)
    load_before = round(os.getloadavg()[0], 2)
    workdir = Path(tempfile.mkdtemp(prefix="textgym-wiki-scale-"))
    try:
        runs = []
        for size in args.sizes:
            run = bench(size, args.queries, workdir)
            runs.append(run)
            print(json.dumps(run), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "benchmark": "wiki_scale",
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "corpus": "generate_encyclopedia(seed=0, entities=N)",
        "what": "SQLite FTS5 BM25 index of the generated encyclopedia: build time, and "
        "latency of the Wiki tool (k=3, snippets, 400-token cap) per query",
        "platform": {
            "python": sys.version.split()[0],
            "sqlite": sqlite3.sqlite_version,
            "machine": platform.machine(),
            "system": platform.system(),
            "cpus": os.cpu_count(),
            # Latency tails depend on what else runs: the 1-minute load before and after.
            "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
        },
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
