"""Fuzzing every env's step() with arbitrary actions and every tool with arbitrary strings.

CI runs a bounded number of examples per test; a longer run sets TEXTGYM_FUZZ_EXAMPLES
(benchmarks/results/fuzz.md records the last long run and its count):

    TEXTGYM_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -q tests/test_fuzz.py
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textgym.registration import ENVS, env_ids
from textgym.tokenizer import MARKERS

EXAMPLES = int(os.environ.get("TEXTGYM_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # no wall-clock assertions: the sandbox's first call can be slow
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,  # CI sees the same examples every run
)

#: Each env's tool, from the registry: a new env is fuzzed without editing this file.
TOOL_NAMES = {entry.id: entry.tool for entry in ENVS}


@pytest.fixture(scope="module", params=env_ids())
def env(request):
    env = gym.make(request.param)
    yield env
    env.close()


def _fragments(env_id: str):
    """Pieces a turn is built from: raw ids (any int, in or out of the vocabulary), marker
    ids, and text that names the env's tool, so the fuzzer reaches real tool calls."""
    base = gym.make(env_id).unwrapped
    markers = [base.encode_turn(m) for m in MARKERS]
    tool = base.encode_turn(f"<{TOOL_NAMES.get(env_id, 'X')}>")
    base.close()
    raw = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=8).map(
        lambda xs: np.asarray(xs, dtype=np.int64)
    )
    vocab_ids = st.lists(st.integers(0, len(base.tokenizer) - 1), max_size=12).map(
        lambda xs: np.asarray(xs, dtype=np.int64)
    )
    text = st.text(max_size=20).map(base.encode_turn)
    return st.one_of(raw, vocab_ids, text, st.sampled_from(markers), st.just(tool))


TURNS = {
    env_id: st.lists(_fragments(env_id), max_size=6).map(
        lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int64)
    )
    for env_id in env_ids()
}


@pytest.mark.parametrize("env_id", env_ids())
def test_step_survives_any_action(env_id):
    env = gym.make(env_id)
    base = env.unwrapped
    low, high = base.task.reward_range
    low, high = min(low, 0.0) - abs(getattr(base, "tool_bonus", 0.0)), high + 1.0

    @FUZZ
    @given(seed=st.integers(0, 2**16), turns=st.lists(TURNS[env_id], min_size=1, max_size=6))
    def run(seed, turns):
        obs, _ = env.reset(seed=seed)
        for action in turns:
            obs, reward, terminated, truncated, info = env.step(action)
            assert env.observation_space.contains(obs)
            assert len(obs) <= base.max_context and info["length"] == len(obs)
            assert info["agent_mask"].shape == (base.max_context,)
            assert low <= reward <= high
            assert isinstance(terminated, bool) and isinstance(truncated, bool)
            assert info["turn"] <= base.max_turns
            if terminated or truncated:
                assert "success" in info and "episode_stats" in info
                return
        assert info["turn"] < base.max_turns  # not over yet only while turns remain

    try:
        run()
    finally:
        env.close()


@pytest.mark.parametrize("env_id", env_ids())
def test_tools_answer_any_string_with_bounded_text(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)  # the Python tool needs the episode's sandbox session
    tool = env.unwrapped.tools[TOOL_NAMES[env_id]]

    @FUZZ
    @given(query=st.text(max_size=300))
    def run(query):
        result = tool.run(query)  # the env's entry point: never raises
        assert isinstance(result.response, str) and isinstance(result.ok, bool)
        assert len(result.response) <= tool.max_output_chars + len("...[truncated]")
        if not result.ok:
            assert result.response.startswith("Error")

    try:
        run()
    finally:
        env.close()
