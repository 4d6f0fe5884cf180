"""The one reading of the env contract agents use (textgym.env_spec) and of a model's
position limit (agents.value_head.max_positions)."""

import gymnasium as gym
import pytest

import textgym  # noqa: F401  (registers the envs)
from textgym.agents import tiny_gpt2_config, tiny_llama_config
from textgym.agents.value_head import max_positions
from textgym.env_spec import DEFAULT_MAX_TURN_TOKENS, env_spec, text_env_spec


def test_single_and_vector_envs_give_the_same_spec():
    env = gym.make("TextEnv-Calculator-v0", max_context=512, max_turn_tokens=40)
    single = env_spec(env)
    assert single.max_context == 512 and single.max_turn_tokens == 40
    assert single.vocab_size == env.action_space.feature_space.n
    assert single.tokenizer is env.unwrapped.tokenizer
    assert single.encode_turn("Result=4<submit>").ndim == 1
    vector = gym.make_vec("TextEnv-Calculator-v0", num_envs=2, max_context=512, max_turn_tokens=40)
    assert env_spec(vector) == single  # tokenizer and encode_turn are not compared
    assert env_spec(vector).encode_turn is None
    vector.close()
    env.close()


def test_a_wrapper_can_override_a_contract_attribute():
    class ShortTurns(gym.Wrapper):
        max_turn_tokens = 8

    spec = env_spec(ShortTurns(gym.make("TextEnv-Calculator-v0")))
    assert spec.max_turn_tokens == 8 != DEFAULT_MAX_TURN_TOKENS


def test_a_non_token_env_is_a_clear_error():
    with pytest.raises(TypeError, match="Sequence"):
        env_spec(gym.make("CartPole-v1"))
    with pytest.raises(TypeError, match="needs a textgym env"):
        text_env_spec(gym.make("CartPole-v1"), "SomeAgent")


def test_position_limit_reads_gpt2_and_llama_configs():
    assert max_positions(tiny_gpt2_config(300, n_positions=256)) == 256
    assert max_positions(tiny_llama_config(300, n_positions=384)) == 384
    assert max_positions(object()) is None
