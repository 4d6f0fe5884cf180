"""TRL's GRPOTrainer against textgym's PPO (GRPO advantages) on tool discovery, at an
equal wall-clock budget.

One SFT start (calculator demonstrations that call the tool on 30% of the items, as in
advantage_estimators.py), then the same minutes of training from it by each trainer:

- ``textgym``: textgym's PPO with ``advantage="grpo"``, groups of ``--group-size``;
- ``trl``: TRL's ``GRPOTrainer`` with :func:`textgym.integrations.trl.make_rollout_func`,
  ``num_generations=--group-size``, the same episodes per generation and learning rate.

Both sample with textgym's batched sampler and make ``ppo_epochs`` passes over each
generation (TRL's ``num_iterations``) at the same learning rate and clip range, so the
comparison is of the update side (TRL: no KL term, its default ``beta=0``; textgym: an
adaptive KL penalty in the reward) and of each loop's overheads. The TRL items are train
indices from 10**6 on, away from the validation items. Greedy validation success is drawn
against training minutes (evaluations are timed apart), and the test split is read once
per trainer at the end.

    .venv/bin/python benchmarks/trl_vs_textgym.py              # ~13 min on 2 cores
    .venv/bin/python benchmarks/trl_vs_textgym.py --minutes 0.2 --sft-steps 20 --no-test

Writes benchmarks/results/trl_vs_textgym.json and .png.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch
from learning_runs import (
    Curve,
    machine,
    new_policy,
    plot_curves,
    test_split,
    timed_ppo,
    timed_sft,
    validation,
)
from transformers import TrainerCallback

from textgym.agents import PPOConfig, SFTConfig
from textgym.env_spec import env_spec
from textgym.integrations import trl as textgym_trl

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ENV_ID = "TextEnv-Calculator-v0"
SOURCE = {"oracle_tool_rate": 0.3}


class WallClockBudget(TrainerCallback):
    """Stops TRL after ``minutes`` of training and draws the validation curve; the
    evaluations are timed apart, as :func:`learning_runs.timed_ppo` does."""

    def __init__(self, env, policy, curve: Curve, minutes: float, eval_every: int, episodes):
        self.env, self.policy, self.curve = env, policy, curve
        self.minutes, self.eval_every, self.episodes = minutes, eval_every, episodes
        self.started = time.perf_counter()
        self.spent_on_evals = 0.0

    def trained(self) -> float:
        return (time.perf_counter() - self.started - self.spent_on_evals) / 60

    def on_step_end(self, args, state, control, **kwargs):
        done = self.trained() >= self.minutes
        if state.global_step % self.eval_every == 0 or done:
            e0 = time.perf_counter()
            self.curve.add(self.trained(), validation(self.env, self.policy, self.episodes))
            self.spent_on_evals += time.perf_counter() - e0
        control.should_training_stop = done
        return control


def timed_trl(policy, config: PPOConfig, curve: Curve, minutes: float, eval_every: int, val):
    """TRL GRPO on ``policy.model`` (trained in place) for ``minutes``; returns the
    training minutes and the number of optimizer steps."""
    env = gym.make(ENV_ID)
    tokenizer = env_spec(env).tokenizer
    # TRL's "step" is one optimizer step on a slice; a generation of
    # episodes_per_iteration episodes feeds steps_per_generation of them.
    per_step = config.mini_batch_size * 2
    scratch = tempfile.TemporaryDirectory(prefix="trl_vs_textgym_")  # TRL wants a folder
    args = GRPOConfig(
        output_dir=scratch.name,
        use_cpu=True,
        max_steps=10**6,  # the budget stops it
        num_generations=config.group_size,
        per_device_train_batch_size=per_step,
        steps_per_generation=config.episodes_per_iteration // per_step,
        num_iterations=config.ppo_epochs,  # passes over each generation, as PPO's epochs
        learning_rate=config.learning_rate,
        max_grad_norm=config.max_grad_norm,
        gradient_checkpointing=False,  # TRL defaults to True: slower on a small model
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=config.seed,
    )
    # A point every eval_every generations, as textgym's every eval_every iterations (a
    # generation is steps_per_generation * num_iterations optimizer steps).
    steps_per_point = eval_every * args.steps_per_generation * args.num_iterations
    budget = WallClockBudget(env, policy, curve, minutes, steps_per_point, val)
    trainer = GRPOTrainer(
        model=policy.model,
        reward_funcs=textgym_trl.env_reward,
        args=args,
        train_dataset=textgym_trl.make_dataset(ENV_ID, 5000, first_index=10**6),
        processing_class=tokenizer,
        rollout_func=textgym_trl.make_rollout_func(
            ENV_ID, max_new_tokens=config.max_new_tokens, seed=config.seed
        ),
        callbacks=[budget],
    )
    budget.started = time.perf_counter()
    trainer.train()
    policy.model = trainer.accelerator.unwrap_model(trainer.model)
    env.close()
    scratch.cleanup()
    return budget.trained(), trainer.state.global_step


def save_policies(folder: Path, policies: dict, config: PPOConfig, args) -> None:
    """Each policy in ``folder/NAME/policy`` with the ``run.json`` the leaderboard reads
    (what trained it, from which start, with which settings)."""
    command = "benchmarks/trl_vs_textgym.py " + " ".join(sys.argv[1:])
    for name, policy in policies.items():
        policy.save_pretrained(folder / name / "policy")
        run = {
            "kind": {"sft": "sft", "textgym": "ppo", "trl": "trl-grpo"}[name],
            "env": ENV_ID,
            "env_kwargs": SOURCE if name == "sft" else {},
            "init": None if name == "sft" else str(folder / "sft" / "policy"),
            "arch": args.arch,
            "config": {"steps": args.sft_steps}
            if name == "sft"
            else {**config.to_dict(), "training_minutes": args.minutes},
            "command": command,
        }
        (folder / name / "run.json").write_text(json.dumps(run, indent=2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes each")
    parser.add_argument("--sft-steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64, help="episodes per generation")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per item")
    parser.add_argument("--eval-every", type=int, default=5, help="iterations/steps per point")
    parser.add_argument("--val-episodes", type=int, default=100)
    parser.add_argument("--no-test", action="store_true", help="validation only")
    parser.add_argument(
        "--tag", default="", help="results file suffix (trl_vs_textgym<TAG>.json)"
    )
    parser.add_argument(
        "--save",
        default=None,
        metavar="DIR",
        help="keep the three policies as DIR/{sft,textgym,trl}/policy with a run.json each "
        "(the leaderboard's trained entries)",
    )
    # Llama: TRL runs its forward on [left-padded prompts | completions] with positions
    # counted from the padded batch's first column. Rotary positions are relative, so the
    # shift changes nothing; GPT-2's learnt absolute ones would be shifted, and a wide batch
    # overflowed them (IndexError in wpe after 600 steps, 2026-12-05).
    parser.add_argument("--arch", choices=["llama", "causal"], default="llama")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    started = time.perf_counter()
    env = gym.make(ENV_ID)
    start = new_policy(env, arch=args.arch)
    sft_minutes = timed_sft(
        gym.make(ENV_ID, **SOURCE), start, SFTConfig(steps=args.sft_steps), None
    )
    print(f"SFT: {sft_minutes:.2f} min", flush=True)
    config = PPOConfig(
        episodes_per_iteration=args.batch,
        total_iterations=10**6,
        checkpoint_every=0,
        advantage="grpo",
        group_size=args.group_size,
    )

    # Both curves start from the SFT policy's own validation score at minute 0, so the
    # discovery step (tool calls from ~0% greedy to all) shows on the plot.
    start_scores = validation(env, start, args.val_episodes)
    textgym_policy, textgym_curve = copy.deepcopy(start), Curve("textgym PPO (grpo)")
    textgym_curve.add(0.0, start_scores)
    minutes, rows = timed_ppo(
        ENV_ID,
        {},
        textgym_policy,
        config,
        textgym_curve,
        minutes=args.minutes,
        eval_every=args.eval_every,
        val_episodes=args.val_episodes,
    )
    runs = {"textgym": {"iterations": len(rows), "minutes": round(minutes, 2)}}
    print(f"textgym: {len(rows)} iterations in {minutes:.2f} min", flush=True)

    trl_policy, trl_curve = copy.deepcopy(start), Curve("TRL GRPOTrainer")
    trl_curve.add(0.0, start_scores)
    minutes, steps = timed_trl(
        trl_policy, config, trl_curve, args.minutes, args.eval_every, args.val_episodes
    )
    runs["trl"] = {"optimizer_steps": steps, "minutes": round(minutes, 2)}
    print(f"trl: {steps} optimizer steps in {minutes:.2f} min", flush=True)

    result = {
        "env": ENV_ID,
        "sft_env_kwargs": SOURCE,
        "sft_steps": args.sft_steps,
        "arch": args.arch,
        "sft_minutes": round(sft_minutes, 2),
        "minutes_each": args.minutes,
        "runs": runs,
        "textgym_config": config.to_dict(),
        "curves": [textgym_curve.as_dict(), trl_curve.as_dict()],
        "machine": machine(),
    }
    if not args.no_test:
        result["test"] = {
            name: test_split(env, policy)
            for name, policy in (("sft", start), ("textgym", textgym_policy), ("trl", trl_policy))
        }
    if args.save:
        save_policies(
            Path(args.save),
            {"sft": start, "textgym": textgym_policy, "trl": trl_policy},
            config,
            args,
        )
    result["wall_minutes"] = round((time.perf_counter() - started) / 60, 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"trl_vs_textgym{args.tag}.json").write_text(json.dumps(result, indent=2))
    plot_curves(
        [textgym_curve, trl_curve],
        RESULTS / f"trl_vs_textgym{args.tag}.png",
        f"Tool discovery, {args.minutes} training minutes each from one SFT start",
    )
    print(json.dumps({k: result[k] for k in ("runs", "wall_minutes")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
