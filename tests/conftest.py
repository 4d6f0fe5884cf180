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


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own cache directory (search indexes): nothing is written to
    ~/.cache."""
    monkeypatch.setenv("TEXTGYM_CACHE", str(tmp_path / "cache"))
