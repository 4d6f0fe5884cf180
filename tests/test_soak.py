"""A short soak in CI: episodes across every env in vector envs, with the leak check of
benchmarks/soak.py (the full 10,000-episode figures are in benchmarks/results/soak.json)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from soak import BOUNDS, counters, soak  # noqa: E402


def test_short_soak_stays_within_the_leak_bounds():
    result = soak(episodes=240, num_envs=3, rounds=3, sample=10)
    assert result["episodes"] >= 240
    assert result["within_bounds"], result["worst_growth"]
    assert set(result["worst_growth"]) == set(BOUNDS)


def test_counters_see_children_and_descriptors():
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        during = counters()
        assert during["children"] >= 1
        assert during["fds"] > 3
    finally:
        child.kill()
        child.wait()
    assert counters()["children"] == during["children"] - 1
