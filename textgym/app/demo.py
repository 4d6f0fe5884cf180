"""``make demo``: the main job on embedded defaults, offline, on the CPU.

Tool discovery, the TRL TextEnvironment / Toolformer story: a tiny GPT-2 (built from a
config, no hub) with the ByT5 tokenizer is behaviour-cloned on calculator demonstrations
that call the tool on only 30% of the items and answer in their head on the rest
(``oracle_tool_rate=0.3``). Imitating those, it rarely calls the tool and gets most
products wrong. PPO, through the plain Gymnasium API, then has to find from reward alone
that calling the calculator pays. The test split is measured before and after (success
and tool-call rate, greedy and sampled), and the learning curve is saved as a PNG.
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
from textgym.checks import positive_int

ENV_ID = "TextEnv-Calculator-v0"
#: The demonstrations: the oracle calls the calculator on 30% of the items.
DEMO_SOURCE = {"oracle_tool_rate": 0.3}
#: ``run_demo``'s defaults, which ``textgym demo --help`` shows.
DEFAULTS = {"episodes": 200, "sft_steps": 600, "ppo_iterations": 40}


def _scores(env: gym.Env, agent, episodes: int) -> tuple[float, float]:
    """Test-split success and tool-call rate (episodes with a tool call)."""
    result = textgym.evaluate(env, agent, episodes=episodes, progress=False, env_id=ENV_ID)
    return result.success_rate, result.tool_call_rate


def _policy_scores(env: gym.Env, path: Path, episodes: int) -> dict[str, tuple[float, float]]:
    """Greedy and sampled (temperature 1, the policy PPO trains) scores."""
    return {
        mode: _scores(env, PolicyAgent(env, path, temperature=t), episodes)
        for mode, t in (("greedy", 0.0), ("sampled", 1.0))
    }


def run_demo(
    episodes: int = DEFAULTS["episodes"],
    out_dir: str = "runs/demo",
    sft_steps: int = DEFAULTS["sft_steps"],
    ppo_iterations: int = DEFAULTS["ppo_iterations"],
    episodes_per_iteration: int = 64,
) -> int:
    for name, value in (
        ("episodes", episodes),
        ("sft_steps", sft_steps),
        ("ppo_iterations", ppo_iterations),
        ("episodes_per_iteration", episodes_per_iteration),
    ):  # checked before minutes of training, not after
        positive_int(name, value)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    started = time.perf_counter()
    out = Path(out_dir)
    # Running the demo again keeps the last one: it is moved aside, never deleted.
    moved = prepare_run_folder(out, overwrite=True)
    if moved is not None:
        print(f"(the previous demo in {out} was moved to {moved})")
    env = gym.make(ENV_ID)
    print(
        f"textgym {textgym.__version__} demo on {ENV_ID}: does PPO discover the calculator "
        "from reward?\n(tiny GPT-2 from a config, ByT5 tokenizer, CPU, offline)\n"
    )
    example = textgym.run_episode(env, OracleAgent(env), seed=0, options={"split": "test"})
    assert example.success
    print("The task, solved with the tool (TRL's transcript form):")
    print("  " + env.unwrapped.transcript().replace("\n", "\n  ") + "\n")

    print(
        f"1/3 SFT warm start: {sft_steps} steps of behaviour cloning on demonstrations "
        f"that call the tool on {DEMO_SOURCE['oracle_tool_rate']:.0%} of the items and "
        "answer in their head on the rest"
    )
    sft_dir = train_sft(
        ENV_ID, out / "sft", SFTConfig(steps=sft_steps), env_kwargs=DEMO_SOURCE, progress=True
    )
    before = _policy_scores(env, sft_dir, episodes)

    print(
        f"2/3 PPO: {ppo_iterations} iterations of {episodes_per_iteration} episodes "
        "through gym.make_vec, reward 1 for a right answer"
    )
    config = PPOConfig(
        total_iterations=ppo_iterations,
        episodes_per_iteration=episodes_per_iteration,
        checkpoint_every=0,
    )
    train_ppo(ENV_ID, out / "ppo", config, init=sft_dir, eval_every=10, eval_episodes=50)
    after = _policy_scores(env, out / "ppo" / "policy", episodes)

    print(f"3/3 evaluation on {episodes} test-split items\n")
    random_scores = _scores(env, RandomAgent(env), episodes)
    oracle_scores = _scores(env, OracleAgent(env), episodes)
    print(f"  {'agent':<16} {'success':>17}  {'tool-call rate':>17}")
    print(f"  {'':<16} {'greedy':>8} {'sampled':>8}  {'greedy':>8} {'sampled':>8}")
    for name, greedy, sampled in [
        ("random", random_scores, random_scores),
        ("SFT warm start", before["greedy"], before["sampled"]),
        ("SFT + PPO", after["greedy"], after["sampled"]),
        ("oracle (tool)", oracle_scores, oracle_scores),
    ]:
        print(
            f"  {name:<16} {greedy[0]:8.1%} {sampled[0]:8.1%}  {greedy[1]:8.1%} {sampled[1]:8.1%}"
        )
    env.close()
    gain = {mode: 100 * (after[mode][0] - before[mode][0]) for mode in after}
    calls = {mode: (before[mode][1], after[mode][1]) for mode in after}
    print(
        f"\n  PPO changed test success by {gain['greedy']:+.1f} points greedy, "
        f"{gain['sampled']:+.1f} points sampled;"
        f"\n  the greedy policy calls the tool on {calls['greedy'][1]:.1%} of the items "
        f"(SFT start: {calls['greedy'][0]:.1%})."
    )
    print(f"  learning curve: {out / 'ppo' / 'learning_curve.png'}")
    print(
        f"  trained model:  {out / 'ppo' / 'policy'}  "
        f"(textgym eval --agent ppo:{out / 'ppo'} --env {ENV_ID})"
    )
    print(f"  took {(time.perf_counter() - started) / 60:.1f} minutes")
    return 0
