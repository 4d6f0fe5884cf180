"""The token-level, text-level and fixed-length views of every registered env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textgym
from textgym.wrappers import AnyText, FixedLength, TextLevel, TokenLevel

ENV_IDS = textgym.env_ids()
WRAPPERS = {"token": TokenLevel, "text": TextLevel, "fixed": FixedLength}


# check_env warns that a wrapped env is not the raw env: checking the wrapper is the point.
@pytest.mark.filterwarnings("ignore:.*different from the unwrapped version")
@pytest.mark.parametrize("view", sorted(WRAPPERS))
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes_for_every_view(env_id, view):
    env = WRAPPERS[view](gym.make(env_id))
    try:
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def _oracle_turns(env_id, seed):
    """The oracle's turns for the episode at ``seed``, and the turn-level outcome."""
    env = gym.make(env_id)
    obs, info = env.reset(seed=seed)
    turns, done = [], False
    while not done:
        action = env.unwrapped.oracle_action()
        turns.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    env.close()
    return turns, (obs, reward, terminated, truncated, info["success"])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_token_level_oracle_equals_turn_level(env_id):
    for seed in range(5):
        turns, (obs, reward, terminated, truncated, success) = _oracle_turns(env_id, seed)
        env = TokenLevel(gym.make(env_id))
        env.reset(seed=seed)
        total, steps = 0.0, 0
        for turn in turns:
            for token in turn:
                tobs, r, term, trunc, info = env.step(int(token))
                total += r
                steps += 1
        assert (term, trunc) == (terminated, truncated)
        assert total == reward and info["success"] == success
        assert steps == sum(len(t) for t in turns)
        n = int(tobs["attention_mask"].sum())
        assert tobs["tokens"][-n:].tolist() == obs[-n:].tolist()
        env.close()


def test_token_level_shows_the_pending_turn_as_agent_tokens(calc_env):
    env = TokenLevel(calc_env)
    obs, _ = env.reset(seed=0)
    prompt_len = int(obs["attention_mask"].sum())
    assert obs["agent_mask"].sum() == 0
    for i, token in enumerate(env.unwrapped.encode_turn("Result=")):
        obs, reward, terminated, truncated, info = env.step(int(token))
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert info["turn_tokens"] == i + 1
    assert obs["attention_mask"].sum() == prompt_len + len("Result=")
    assert obs["agent_mask"][-len("Result=") :].all()
    assert env.unwrapped.text().endswith("\n")  # nothing sent to the env yet
    assert env.pending_turn.tolist() == env.unwrapped.encode_turn("Result=").tolist()


def test_token_level_ends_a_turn_at_max_turn_tokens():
    env = TokenLevel(gym.make("TextEnv-Calculator-v0", max_turn_tokens=5))
    env.reset(seed=0)
    letter = int(env.unwrapped.encode_turn("a")[0])
    infos = [env.step(letter)[4] for _ in range(5)]
    assert "turn_kind" not in infos[3] and infos[4]["turn_kind"] == "no_stop"
    assert env.unwrapped.item is not None and env.pending_turn.size == 0


def test_token_level_bad_actions(calc_env):
    env = TokenLevel(calc_env)
    env.reset(seed=0)
    *_, info = env.step(10**9)
    assert info["invalid_ids"] == 1
    *_, info = env.step(-1)
    assert info["invalid_ids"] == 1
    with pytest.raises(TypeError):
        env.step("a")
    with pytest.raises(TypeError):
        env.step([1, 2])


def test_token_level_window_cuts_the_oldest_tokens(calc_env):
    env = TokenLevel(calc_env, window=8)
    obs, _ = env.reset(seed=0)
    assert obs["tokens"].shape == (8,) and obs["attention_mask"].all()
    assert obs["tokens"].tolist() == env.unwrapped._obs()[-8:].tolist()


def test_token_level_async_vector_env_with_shared_memory():
    def make():
        return TokenLevel(gym.make("TextEnv-Calculator-v0"), window=128)

    vec = gym.vector.AsyncVectorEnv([make] * 2, shared_memory=True)
    single = make()
    try:
        obs, _ = vec.reset(seed=[3, 4])
        ref, _ = single.reset(seed=3)
        assert obs["tokens"].shape == (2, 128)
        assert obs["tokens"][0].tolist() == ref["tokens"].tolist()
        rng = np.random.default_rng(0)
        for _ in range(50):
            actions = rng.integers(0, vec.single_action_space.n, size=2)
            obs, reward, terminated, truncated, info = vec.step(actions)
            ref, r, *_ = single.step(int(actions[0]))
            if terminated[0] or truncated[0]:
                break
            assert obs["tokens"][0].tolist() == ref["tokens"].tolist()
    finally:
        vec.close()
        single.close()


def test_text_level_plays_trls_transcript(calc_env):
    env = TextLevel(calc_env)
    obs, _ = env.reset(seed=0, options={"split": "test", "index": 0})
    assert isinstance(obs, str) and env.observation_space.contains(obs)
    question = env.unwrapped.item.question
    assert obs.endswith(question + "\n")
    call = env.unwrapped.task.oracle_turn(env.unwrapped.item, ())
    obs, reward, terminated, truncated, info = env.step(call)
    assert obs.endswith(call + info["new_text"]) and info["new_text"].endswith("<response>")
    answer = info["new_text"].removesuffix("<response>")
    obs, reward, terminated, truncated, info = env.step(f"Result={answer}<submit>")
    assert terminated and reward == 1.0 and info["new_text"] == ""


def test_text_level_rejects_non_strings_and_accepts_any_unicode(calc_env):
    env = TextLevel(calc_env)
    env.reset(seed=0)
    with pytest.raises(TypeError):
        env.step(np.array([1, 2]))
    obs, reward, terminated, *_ = env.step("ünïcødé 🙂 <submit>")
    assert terminated and reward == 0.0 and "🙂" in obs
    assert env.observation_space.contains(obs)


def test_any_text_space():
    space = AnyText(5)
    assert space.contains("🙂é") and not space.contains("abcdef") and not space.contains(3)
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(20))


@pytest.mark.parametrize("side", ["right", "left"])
def test_fixed_length_pads_to_max_context(calc_env, side):
    env = FixedLength(calc_env, padding_side=side)
    obs, info = env.reset(seed=0)
    n, base = info["length"], env.unwrapped
    assert obs.shape == (base.max_context,)
    real = obs[:n] if side == "right" else obs[-n:]
    assert real.tolist() == base._obs().tolist()
    vec = gym.vector.SyncVectorEnv([lambda: FixedLength(gym.make("TextEnv-Calculator-v0"))] * 2)
    batch, _ = vec.reset(seed=0)
    assert batch.shape == (2, base.max_context)
    vec.close()
