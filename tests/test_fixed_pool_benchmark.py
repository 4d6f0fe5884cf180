"""benchmarks/ppo_fixed_pool.py: the pool wrapper gives a group one item, cycles through
the pool, and a short run of both arms writes its result (the benchmark itself is run by
hand)."""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import pytest

pytest.importorskip("matplotlib")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import ppo_fixed_pool as bench  # noqa: E402

from textgym import make_tokenizer  # noqa: E402
from textgym.agents import PPOConfig, ValueHeadLM, tiny_gpt2_config  # noqa: E402


def test_seeds_map_to_the_pool_in_order_and_a_group_shares_its_item():
    slots: dict[int, int] = {}
    envs = [bench.FixedPool(gym.make("TextEnv-Calculator-v0"), 3, slots) for _ in range(2)]
    question = lambda env, seed: env.unwrapped.tokenizer.decode(env.reset(seed=seed)[0])  # noqa: E731
    first = question(envs[0], 901)
    assert question(envs[1], 901) == first  # one seed, one item, on any env of the pool
    items = [question(envs[0], s) for s in (902, 903, 904)]
    assert items[0] != first and items[1] not in (first, items[0])
    assert items[2] == first  # the fourth seed wraps round to item 0
    assert slots == {901: 0, 902: 1, 903: 2, 904: 0}
    expected = gym.make("TextEnv-Calculator-v0")
    expected_obs, _ = expected.reset(options={"split": "train", "index": 1})
    assert items[0] == expected.unwrapped.tokenizer.decode(expected_obs)  # train item 1


def test_an_arm_trains_on_the_pool_and_records_each_iteration(tmp_path):
    policy = ValueHeadLM.from_config(
        tiny_gpt2_config(len(make_tokenizer()), n_layer=1, n_embd=32, n_head=2), seed=0
    )
    policy.save_pretrained(tmp_path / "policy")
    config = PPOConfig(
        advantage="rloo",
        group_size=4,
        episodes_per_iteration=8,
        max_new_tokens=8,
        advantage_norm="scale",
        only_positive_advantages=True,
        checkpoint_every=0,
    )
    rows = bench.run_arm("TextEnv-Calculator-v0", tmp_path / "policy", config, 2, 2, "test")
    assert [r["iteration"] for r in rows] == [1, 2]
    assert all(0.0 <= r["success"] <= 1.0 and r["minutes"] >= 0 for r in rows)
    bench.plot({"test": rows}, tmp_path / "pool.png", "pool")
    assert (tmp_path / "pool.png").stat().st_size > 0
