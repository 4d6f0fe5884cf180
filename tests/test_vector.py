"""Vector envs: ``gym.make_vec`` works for every env id, and the async (one subprocess per
env), threaded (tool calls overlap) and sync vector envs give identical episodes for the
same seeds."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import textgym
from textgym.registration import env_ids

NUM_ENVS = 3
STEPS = 12


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) and a.dtype == object:
        return a.shape == b.shape and all(_same(x, y) for x, y in zip(a.ravel(), b.ravel()))
    return bool(np.array_equal(a, b))


def _play(env_id: str, mode: str, autoreset: gym.vector.AutoresetMode) -> list:
    """A fixed script: each env plays the oracle's turn or random tokens, chosen by a
    seeded coin, for STEPS steps through resets; returns everything the vector env said."""
    kwargs: dict[str, Any] = {"autoreset_mode": autoreset}
    if mode == "async":
        kwargs["shared_memory"] = False  # token sequences have no fixed shape
    if mode == "threaded":
        vec = textgym.make_vec(env_id, NUM_ENVS, "threaded", vector_kwargs=kwargs)
    else:
        vec = gym.make_vec(env_id, NUM_ENVS, vectorization_mode=mode, vector_kwargs=kwargs)
    rng = np.random.default_rng(0)
    vocab = vec.single_action_space.feature_space.n
    try:
        record = [vec.reset(seed=123)]
        needs_reset = np.zeros(NUM_ENVS, bool)
        for _ in range(STEPS):
            coin = rng.random(NUM_ENVS) < 0.7
            randoms = [rng.integers(0, vocab, size=int(rng.integers(1, 20))) for _ in coin]
            if autoreset == gym.vector.AutoresetMode.SAME_STEP or not needs_reset.any():
                oracle = vec.call("oracle_action")
            else:  # NEXT_STEP: an env waiting for its reset has no running episode
                coin[:] = False
                oracle = randoms
            actions = tuple(o if c else r for o, r, c in zip(oracle, randoms, coin))
            obs, reward, terminated, truncated, info = vec.step(actions)
            needs_reset = terminated | truncated
            record.append((obs, reward, terminated, truncated, info))
    finally:
        vec.close()
    return record


@pytest.mark.parametrize("env_id", env_ids())
@pytest.mark.parametrize(
    "autoreset", [gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP]
)
def test_async_threaded_and_sync_vector_envs_give_identical_episodes(env_id, autoreset):
    sync = _play(env_id, "sync", autoreset)
    for mode in ("async", "threaded"):
        other = _play(env_id, mode, autoreset)
        assert len(sync) == len(other) == STEPS + 1
        for step, (a, b) in enumerate(zip(sync, other)):
            assert _same(a, b), f"{env_id}: step {step} differs between sync and {mode}"
    # The script did something: episodes ended, and some with reward.
    ended = sum(int(np.sum(r[2] | r[3])) for r in sync[1:])
    assert ended >= NUM_ENVS
    assert sum(float(np.sum(r[1])) for r in sync[1:]) > 0


def test_different_seeds_give_different_episodes():
    a = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
    b = gym.make_vec("TextEnv-Calculator-v0", num_envs=2)
    (obs_a, _), (obs_b, _) = a.reset(seed=1), b.reset(seed=2)
    assert not _same(obs_a, obs_b)
    a.close()
    b.close()


def test_threaded_steps_overlap_slow_tool_calls():
    """Four envs each run a 50 ms program in one vector step: threaded, the calls overlap
    (judged by the workers' own clocks, not the test's wall time)."""
    vec = textgym.make_vec("TextEnv-Python-v0", 4, "threaded")
    probe = gym.make("TextEnv-Python-v0").unwrapped
    program = "import time; t = time.time(); time.sleep(0.05); print(t, time.time())"
    action = probe.encode_turn(f"<request><Python>{program}<call>")
    probe.close()
    try:
        vec.reset(seed=0)
        _, _, _, _, info = vec.step((action,) * 4)
    finally:
        vec.close()
    spans = [tuple(map(float, calls[-1]["response"].split())) for calls in info["tool_calls"]]
    latest_start = max(start for start, _ in spans)
    earliest_end = min(end for _, end in spans)
    assert latest_start < earliest_end  # all four were sleeping at the same moment


def test_make_vec_rejects_unknown_modes_and_sizes():
    with pytest.raises(ValueError, match="vectorization_mode"):
        textgym.make_vec("TextEnv-Calculator-v0", 2, "parallel")
    with pytest.raises(ValueError, match="num_envs"):
        textgym.make_vec("TextEnv-Calculator-v0", 0, "threaded")
