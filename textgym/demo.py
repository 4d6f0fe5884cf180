"""``make demo``: the main job on embedded defaults, offline, on the CPU.

A tiny GPT-2 (built from a config, no hub) with the ByT5 tokenizer learns to use the
calculator: a short SFT warm start on oracle demonstrations, then PPO through the plain
Gymnasium API, then the test split before and after, with the learning curve as a PNG.
"""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium as gym
import torch

import textgym
from textgym.agents import OracleAgent, PolicyAgent, PPOConfig, RandomAgent, SFTConfig
from textgym.agents.run_folder import prepare_run_folder
from textgym.agents.train import train_ppo, train_sft

ENV_ID = "TextEnv-Calculator-v0"


def _success(env: gym.Env, agent, episodes: int) -> float:
    return textgym.evaluate(
        env, agent, episodes=episodes, progress=False, env_id=ENV_ID
    ).success_rate


def _policy_success(env: gym.Env, path: Path, episodes: int) -> tuple[float, float]:
    """Greedy and sampled (temperature 1, the policy PPO trains) test success."""
    return tuple(_success(env, PolicyAgent(env, path, temperature=t), episodes) for t in (0.0, 1.0))


def run_demo(
    episodes: int = 100,
    out_dir: str = "runs/demo",
    sft_steps: int = 150,
    ppo_iterations: int = 30,
    episodes_per_iteration: int = 64,
) -> int:
    for name, value in (
        ("episodes", episodes),
        ("sft_steps", sft_steps),
        ("ppo_iterations", ppo_iterations),
        ("episodes_per_iteration", episodes_per_iteration),
    ):  # checked before minutes of training, not after
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    started = time.perf_counter()
    out = Path(out_dir)
    # Running the demo again keeps the last one: it is moved aside, never deleted.
    moved = prepare_run_folder(out, overwrite=True)
    if moved is not None:
        print(f"(the previous demo in {out} was moved to {moved})")
    env = gym.make(ENV_ID)
    print(
        f"textgym {textgym.__version__} demo on {ENV_ID}: tiny GPT-2 from a config, "
        "ByT5 tokenizer, CPU, offline\n"
    )
    example = textgym.run_episode(env, OracleAgent(env), seed=0, options={"split": "test"})
    assert example.success
    print("The task, solved by the oracle (TRL's transcript form):")
    print("  " + env.unwrapped.transcript().replace("\n", "\n  ") + "\n")

    print(f"1/3 SFT warm start: {sft_steps} steps of behaviour cloning on oracle episodes")
    sft_dir = train_sft(ENV_ID, out / "sft", SFTConfig(steps=sft_steps))
    before = _policy_success(env, sft_dir, episodes)

    print(
        f"2/3 PPO: {ppo_iterations} iterations of {episodes_per_iteration} episodes "
        "through gym.make_vec"
    )
    config = PPOConfig(
        total_iterations=ppo_iterations,
        episodes_per_iteration=episodes_per_iteration,
        mini_batch_size=16,
        checkpoint_every=0,
    )
    train_ppo(ENV_ID, out / "ppo", config, init=sft_dir, eval_every=10, eval_episodes=50)
    after = _policy_success(env, out / "ppo" / "policy", episodes)

    print(f"3/3 evaluation on {episodes} test-split items\n")
    print(f"  {'agent':<16} {'greedy':>8} {'sampled':>8}")
    for name, (greedy, sampled) in [
        ("random", (_success(env, RandomAgent(env), episodes),) * 2),
        ("SFT warm start", before),
        ("SFT + PPO", after),
        ("oracle", (_success(env, OracleAgent(env), episodes),) * 2),
    ]:
        print(f"  {name:<16} {greedy:8.1%} {sampled:8.1%}")
    env.close()
    print(
        f"\n  PPO changed test success by {100 * (after[0] - before[0]):+.1f} points greedy, "
        f"{100 * (after[1] - before[1]):+.1f} points sampled (success rates of the policy)."
    )
    print(f"  learning curve: {out / 'ppo' / 'learning_curve.png'}")
    print(
        f"  trained model:  {out / 'ppo' / 'policy'}  "
        f"(textgym eval --agent ppo:{out / 'ppo'} --env {ENV_ID})"
    )
    print(f"  took {(time.perf_counter() - started) / 60:.1f} minutes")
    return 0
