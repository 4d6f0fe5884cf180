"""Sentiment scorer throughput: sentences per second, VADER against a local classifier.

    .venv/bin/python benchmarks/sentiment_scorer.py [--sentences 2000]

The classifier baseline is a small BERT (2 layers, 128 wide; DistilBERT has 6 x 768) built
from a config, since no hub is reachable; a real IMDB classifier is slower still. Writes
benchmarks/results/sentiment_scorer.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

import textgym
from textgym.envs.sentiment_data import review_corpus
from textgym.tools.sentiment import ClassifierScorer, VaderScorer

RESULTS = Path(__file__).resolve().parent / "results"


def _small_classifier(folder: Path) -> Path:
    from transformers import BertConfig, BertForSequenceClassification, ByT5Tokenizer

    tok = ByT5Tokenizer(extra_ids=0)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=512,
        max_position_embeddings=256,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def throughput(scorer, texts: list[str], repeats: int = 3) -> float:
    scorer.score(texts[:32])  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        scorer.score(texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    texts = [r["text"] for r in review_corpus(args.sentences, seed=7)]
    vader = throughput(VaderScorer(), texts)
    with tempfile.TemporaryDirectory() as tmp:
        clf = throughput(ClassifierScorer(_small_classifier(Path(tmp))), texts[:512], repeats=2)
    result = {
        "benchmark": "sentiment_scorer",
        "what": "sentences/s scoring generated reviews (mean 102 chars), best of repeats",
        "sentences": args.sentences,
        "vader_sentences_per_s": round(vader, 1),
        "classifier_sentences_per_s": round(clf, 1),
        "classifier": "BERT 2x128 from a config, ByT5 bytes, batch 32, CPU",
        "vader_over_classifier": round(vader / clf, 2),
        "machine": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "platform": platform.platform(),
            "threads": torch.get_num_threads(),
        },
        "textgym": textgym.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sentiment_scorer.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
