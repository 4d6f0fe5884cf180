"""The token-sequence contract, checked for every registered env (new envs are covered
automatically through the registry)."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import textgym
from textgym.agents import OracleAgent, RandomAgent

ENV_IDS = textgym.env_ids()


@pytest.fixture(params=ENV_IDS)
def env(request):
    env = gym.make(request.param)
    yield env
    env.close()


def test_check_env(env):
    check_env(env.unwrapped)


def test_spaces_are_token_sequences(env):
    base = env.unwrapped
    v = len(base.tokenizer)
    for space in (env.observation_space, env.action_space):
        assert isinstance(space, gym.spaces.Sequence) and space.stack
        assert space.feature_space == gym.spaces.Discrete(v)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.int64 and obs.ndim == 1
    assert info["agent_mask"].shape == (base.max_context,) and not info["agent_mask"].any()
    assert info["length"] == len(obs)


def test_public_attributes(env):
    base = env.unwrapped
    assert base.tools and all(name == tool.name for name, tool in base.tools.items())
    assert isinstance(base.task, textgym.Task)
    assert base.call_format.call_id in base.stop_token_ids
    assert base.call_format.submit_id in base.stop_token_ids
    assert base.tokenizer.eos_token_id in base.stop_token_ids


def _episode_record(env, agent, seed):
    agent.reset(seed=seed)
    obs, info = env.reset(seed=seed)
    record = [obs.tolist(), info["index"]]
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(agent.act(obs, info))
        done = terminated or truncated
        clean = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in info.items()}
        record.append((obs.tolist(), reward, terminated, truncated, clean))
    return record


@pytest.mark.parametrize("agent_name", ["oracle", "random"])
def test_fixed_seeds_give_identical_episodes(env, agent_name):
    def make_agent():
        return OracleAgent(env) if agent_name == "oracle" else RandomAgent(env, seed=3)

    first = [_episode_record(env, make_agent(), seed) for seed in range(100)]
    second = [_episode_record(env, make_agent(), seed) for seed in range(100)]
    assert first == second
    other = [_episode_record(env, make_agent(), seed) for seed in range(100, 110)]
    assert other != first[:10]


def test_agent_mask_marks_exactly_the_agent_turns(env):
    obs, info = env.reset(seed=1)
    prompt_len = len(obs)
    agent = OracleAgent(env)
    actions = []
    done = False
    while not done:
        action = agent.act(obs, info)
        actions.append(action)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        assert info["length"] == len(obs)
        assert not info["agent_mask"][len(obs) :].any()
    mask = info["agent_mask"][: len(obs)]
    assert not mask[:prompt_len].any()
    assert mask.sum() == sum(len(a) for a in actions)
    agent_ids = obs[mask]
    assert agent_ids.tolist() == np.concatenate(actions).tolist()


def test_oracle_and_random_bounds_on_test_split(env):
    oracle = textgym.evaluate(env, OracleAgent(env), progress=False)
    assert oracle.success_rate == 1.0 and oracle.n == env.unwrapped.task.test_size
    random = textgym.evaluate(env, RandomAgent(env), progress=False)
    assert random.success_rate <= 0.02


def test_step_before_reset_raises_clearly():
    env = gym.make(ENV_IDS[0]).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([3], dtype=np.int64))


def test_step_after_end_raises_clearly(env):
    env.reset(seed=0)
    env.step(env.unwrapped.encode_turn("Result=1<submit>"))
    with pytest.raises(RuntimeError, match="ended"):
        env.step(env.unwrapped.encode_turn("Result=1<submit>"))


def test_vector_envs(env):
    env_id = env.spec.id
    for mode, kwargs in (("sync", {}), ("async", {"shared_memory": False})):
        vec = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode, vector_kwargs=kwargs)
        obs, info = vec.reset(seed=0)
        assert len(obs) == 2
        # Turns of different lengths: infos must still stack (fixed-shape agent_mask).
        actions = (np.array([3, 4, 5], dtype=np.int64), np.array([7], dtype=np.int64))
        obs, reward, terminated, truncated, info = vec.step(actions)
        assert terminated.all()  # a turn with no stop token is a final answer
        assert info["agent_mask"].shape == (2, env.unwrapped.max_context)
        assert info["agent_mask"].sum(axis=1).tolist() == [3, 1]
        assert [len(o) for o in obs] == info["length"].tolist()
        vec.close()
