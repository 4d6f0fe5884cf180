"""benchmarks/sample_headroom.py: greedy against pass@k per item, the headroom a
reward-driven update can reach (the benchmark itself is run by hand)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import sample_headroom as bench  # noqa: E402

from textgym import make_tokenizer  # noqa: E402
from textgym.agents import ValueHeadLM, tiny_gpt2_config  # noqa: E402


def test_headroom_counts_items_that_samples_solve_and_greedy_does_not():
    greedy = [True, True, False, False]
    sampled = [[True, True], [False, True], [False, True], [False, False]]
    got = bench.summary(greedy, sampled)
    assert got["greedy"] == 0.5
    assert got["sampled"] == pytest.approx(4 / 8)
    assert got["pass@2"] == 0.75
    assert got["headroom"] == 0.25  # item 2 only
    assert got["fragile"] == 0.0  # item 1: half its samples succeed, not fewer


def test_each_item_gets_one_group_of_k_samples():
    policy = ValueHeadLM.from_config(
        tiny_gpt2_config(len(make_tokenizer()), n_layer=1, n_embd=32, n_head=2), seed=0
    )
    per_item = bench.sampled_successes("TextEnv-Calculator-v0", policy, 5, 3, 1.0, 8)
    assert len(per_item) == 5 and all(len(s) == 3 for s in per_item)
