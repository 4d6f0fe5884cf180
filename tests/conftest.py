import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def calc_env():
    env = gym.make("TextEnv-Calculator-v0")
    yield env
    env.close()
