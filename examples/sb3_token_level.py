"""stable-baselines3's PPO trains on the TokenLevel view of TextEnv-Calculator-v0.

    python examples/sb3_token_level.py --timesteps 20000

Nothing here is textgym-specific but the wrapper: TokenLevel turns the token-sequence env
into a classic ``Discrete``-action env with a fixed-shape ``Dict`` observation, which SB3's
``MultiInputPolicy`` reads as it is. An MLP over raw token ids is no language model, so do
not expect it to solve arithmetic; the point is that a third-party RL library plugs in
through the plain Gymnasium API.
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO

import textgym  # noqa: F401  (registers the env ids)
from textgym.wrappers import TokenLevel


def make_env(window: int = 64) -> gym.Env:
    return TokenLevel(gym.make("TextEnv-Calculator-v0"), window=window)


def train(timesteps: int = 4096, seed: int = 0, window: int = 64) -> PPO:
    model = PPO(
        "MultiInputPolicy",
        make_env(window),
        n_steps=512,
        batch_size=128,
        n_epochs=2,
        seed=seed,
        verbose=0,
    )
    return model.learn(total_timesteps=timesteps)


def evaluate(model: PPO, episodes: int = 20, window: int = 64) -> dict[str, float]:
    """Greedy actions on the first ``episodes`` test items."""
    env = make_env(window)
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=i, options={"split": "test", "index": i})
        total, steps, done = 0.0, 0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total, steps, done = total + reward, steps + 1, terminated or truncated
        returns.append(total)
        lengths.append(steps)
    env.close()
    return {"mean_return": float(np.mean(returns)), "mean_tokens": float(np.mean(lengths))}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    model = train(args.timesteps, args.seed)
    episodes = list(model.ep_info_buffer)
    print(
        f"trained {model.num_timesteps} steps; {len(episodes)} recent episodes, mean return "
        f"{np.mean([e['r'] for e in episodes]) if episodes else float('nan'):.3f}"
    )
    print("test:", evaluate(model))
