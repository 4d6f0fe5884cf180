"""TRL's GRPOTrainer against textgym's PPO (GRPO advantages) at equal wall-clock budgets.

One SFT start, then the same minutes of training from it by each trainer, on the env that
``--env`` picks with the demonstrations of its SFT start (their env kwargs from
ppo_learning.py's PRESETS; on sentiment and detox also the preset's SFT steps and linearly
decayed rate):

- ``tool-discovery`` (default): TextEnv-Calculator-v0, calculator demonstrations that call
  the tool on 30% of the items (as in advantage_estimators.py), 2000 SFT steps at a
  constant rate; the curve is greedy validation success.
- ``sentiment``: TextEnv-Sentiment-v0, mixed-polarity reviews
  (``oracle_polarity="mixed"``), so the start writes reviews without preferring a side;
  then both train toward positive ones. Turns of up to 96 tokens (the env's whole turn).
- ``detox``: TextEnv-Detox-v0, demonstrations that insult on half of the prompts
  (``oracle_toxic_rate=0.5``); then both train toward ``1 - P(offensive)``. Turns of up
  to 128 tokens.

Sentiment and detox are ranked by mean reward (their task's ``leaderboard_metric``): their
curves and plots are greedy validation mean reward; success is kept in the JSON.
The trainers:

- ``textgym``: textgym's PPO with ``advantage="grpo"``, groups of ``--group-size``;
- ``trl``: TRL's ``GRPOTrainer`` with :func:`textgym.integrations.trl.make_rollout_func`,
  ``num_generations=--group-size``, the same episodes per generation and learning rate.

Both sample with textgym's batched sampler and make ``ppo_epochs`` passes over each
generation (TRL's ``num_iterations``) at the same learning rate and clip range, so the
comparison is of the update side (TRL: no KL term, its default ``beta=0``; textgym: an
adaptive KL penalty in the reward) and of each loop's overheads. The TRL items are train
indices from 10**6 on, away from the validation items. The greedy validation score is drawn
against training minutes (evaluations are timed apart), and the test split is read once
per trainer at the end.

    .venv/bin/python benchmarks/trl_vs_textgym.py              # ~13 min on 2 cores
    .venv/bin/python benchmarks/trl_vs_textgym.py --env sentiment
    .venv/bin/python benchmarks/trl_vs_textgym.py --env detox
    .venv/bin/python benchmarks/trl_vs_textgym.py --minutes 0.2 --sft-steps 20 --no-test

Writes benchmarks/results/trl_vs_textgym.json and .png for tool discovery, and
trl_vs_textgym_<env>.json and .png for the other envs (``--tag`` is appended to each).
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
    curve_metric,
    machine,
    new_policy,
    plot_curves,
    test_split,
    timed_ppo,
    timed_sft,
    validation,
)
from ppo_learning import PRESETS
from transformers import TrainerCallback

from textgym.agents import PPOConfig, SFTConfig
from textgym.env_spec import env_spec
from textgym.integrations import trl as textgym_trl

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: The default env (tool discovery) and its demonstrations' env kwargs.
ENV_ID = "TextEnv-Calculator-v0"
SOURCE = {"oracle_tool_rate": 0.3}

#: ``--env`` choices: the env, what the plot calls it, and the SFT steps when
#: ``--sft-steps`` is not given. Tool discovery keeps this comparison's own 2000 steps at a
#: constant rate (ppo_learning.py's preset has 600); the others take their preset's.
ENVS: dict[str, dict] = {
    "tool-discovery": {"title": "Tool discovery", "sft_steps": 2000, "sft_lr_schedule": "constant"},
    "sentiment": {"title": "Positive sentiment"},
    "detox": {"title": "Detox"},
}


def setting(name: str) -> dict:
    """What ``--env name`` runs: ``env_id``, ``sft_env_kwargs`` (the demonstrations'
    env), ``sft_steps``, ``sft_lr_schedule``, ``demonstrations``, ``max_new_tokens`` (the
    turn cap of both trainers; None: PPOConfig's) and the plot's ``title``."""
    preset = PRESETS[name]
    return {
        "env_id": preset["env_id"],
        "sft_env_kwargs": dict(preset["sft_env_kwargs"]),
        "sft_steps": preset["sft_steps"],
        "sft_lr_schedule": preset.get("sft_lr_schedule", "constant"),
        "demonstrations": preset["demonstrations"],
        "max_new_tokens": preset["ppo"].get("max_new_tokens"),
        **ENVS[name],
    }


def results_name(env: str, tag: str) -> str:
    """The result files' stem: ``trl_vs_textgym<TAG>`` for tool discovery (the committed
    results' name), ``trl_vs_textgym_<ENV><TAG>`` for the others."""
    return f"trl_vs_textgym{tag}" if env == "tool-discovery" else f"trl_vs_textgym_{env}{tag}"


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


def timed_trl(
    policy,
    config: PPOConfig,
    curve: Curve,
    minutes: float,
    eval_every: int,
    val,
    env_id: str = ENV_ID,
):
    """TRL GRPO on ``policy.model`` (trained in place) for ``minutes`` on ``env_id``;
    returns the training minutes and the number of optimizer steps."""
    env = gym.make(env_id)
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
        train_dataset=textgym_trl.make_dataset(env_id, 5000, first_index=10**6),
        processing_class=tokenizer,
        rollout_func=textgym_trl.make_rollout_func(
            env_id, max_new_tokens=config.max_new_tokens, seed=config.seed
        ),
        callbacks=[budget],
    )
    budget.started = time.perf_counter()
    trainer.train()
    policy.model = trainer.accelerator.unwrap_model(trainer.model)
    env.close()
    scratch.cleanup()
    return budget.trained(), trainer.state.global_step


def save_policies(
    folder: Path,
    policies: dict,
    config: PPOConfig,
    args,
    env: dict | None = None,
    sft_config: SFTConfig | None = None,
) -> None:
    """Each policy in ``folder/NAME/policy`` with the ``run.json`` the leaderboard reads
    (what trained it, on which env, from which start, with which settings). ``env`` is
    :func:`setting`'s (default: tool discovery); the SFT policy's env kwargs are its
    demonstrations', the trained ones' the plain env's (``{}``)."""
    env = env or setting("tool-discovery")
    command = "benchmarks/trl_vs_textgym.py " + " ".join(sys.argv[1:])
    sft_settings = (
        {"steps": args.sft_steps}
        if sft_config is None
        else {
            "steps": sft_config.steps,
            "demonstrations": sft_config.demonstrations,
            "lr_schedule": sft_config.lr_schedule,
        }
    )
    for name, policy in policies.items():
        policy.save_pretrained(folder / name / "policy")
        run = {
            "kind": {"sft": "sft", "textgym": "ppo", "trl": "trl-grpo"}[name],
            "env": env["env_id"],
            "env_kwargs": env["sft_env_kwargs"] if name == "sft" else {},
            "init": None if name == "sft" else str(folder / "sft" / "policy"),
            "arch": args.arch,
            "config": sft_settings
            if name == "sft"
            else {**config.to_dict(), "training_minutes": args.minutes},
            "command": command,
        }
        (folder / name / "run.json").write_text(json.dumps(run, indent=2))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--env",
        choices=list(ENVS),
        default="tool-discovery",
        help="the env and its SFT demonstrations (see the module docstring)",
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes each")
    parser.add_argument(
        "--sft-steps",
        type=int,
        default=None,
        help="default: 2000 for tool-discovery, else ppo_learning.py's preset's "
        f"(sentiment {PRESETS['sentiment']['sft_steps']}, detox {PRESETS['detox']['sft_steps']})",
    )
    parser.add_argument("--batch", type=int, default=64, help="episodes per generation")
    parser.add_argument("--group-size", type=int, default=4, help="episodes per item")
    parser.add_argument("--eval-every", type=int, default=5, help="iterations/steps per point")
    parser.add_argument("--val-episodes", type=int, default=100)
    parser.add_argument("--no-test", action="store_true", help="validation only")
    parser.add_argument(
        "--tag",
        default="",
        help="results file suffix (trl_vs_textgym<TAG>.json, trl_vs_textgym_<ENV><TAG>.json)",
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
    chosen = setting(args.env)
    env_id = chosen["env_id"]
    if args.sft_steps is None:
        args.sft_steps = chosen["sft_steps"]
    torch.set_num_threads(2)
    started = time.perf_counter()
    env = gym.make(env_id)
    metric = curve_metric(env)
    start = new_policy(env, arch=args.arch)
    sft_config = SFTConfig(
        steps=args.sft_steps,
        demonstrations=chosen["demonstrations"],
        lr_schedule=chosen["sft_lr_schedule"],
    )
    sft_minutes = timed_sft(
        gym.make(env_id, **chosen["sft_env_kwargs"]), start, sft_config, None
    )
    print(f"SFT on {env_id}: {args.sft_steps} steps, {sft_minutes:.2f} min", flush=True)
    turn_cap = chosen["max_new_tokens"]
    config = PPOConfig(
        episodes_per_iteration=args.batch,
        total_iterations=10**6,
        checkpoint_every=0,
        advantage="grpo",
        group_size=args.group_size,
        **({"max_new_tokens": turn_cap} if turn_cap else {}),
    )

    # Both curves start from the SFT policy's own validation score at minute 0, so the
    # first gains show on the plot (tool discovery: tool calls from ~0% greedy to all).
    start_scores = validation(env, start, args.val_episodes)
    textgym_policy = copy.deepcopy(start)
    textgym_curve = Curve("textgym PPO (grpo)", metric=metric)
    textgym_curve.add(0.0, start_scores)
    minutes, rows = timed_ppo(
        env_id,
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

    trl_policy, trl_curve = copy.deepcopy(start), Curve("TRL GRPOTrainer", metric=metric)
    trl_curve.add(0.0, start_scores)
    minutes, steps = timed_trl(
        trl_policy,
        config,
        trl_curve,
        args.minutes,
        args.eval_every,
        args.val_episodes,
        env_id=env_id,
    )
    runs["trl"] = {"optimizer_steps": steps, "minutes": round(minutes, 2)}
    print(f"trl: {steps} optimizer steps in {minutes:.2f} min", flush=True)

    result = {
        "env": env_id,
        "sft_env_kwargs": chosen["sft_env_kwargs"],
        "sft_steps": args.sft_steps,
        "sft_lr_schedule": sft_config.lr_schedule,
        "metric": metric,
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
            chosen,
            sft_config,
        )
    result["wall_minutes"] = round((time.perf_counter() - started) / 60, 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = results_name(args.env, args.tag)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    plot_curves(
        [textgym_curve, trl_curve],
        RESULTS / f"{name}.png",
        f"{chosen['title']}, {args.minutes} training minutes each from one SFT start",
    )
    summary = {k: result[k] for k in ("env", "runs", "wall_minutes")}
    summary[f"validation_{metric}"] = {
        "start": textgym_curve.values[0],
        "textgym": textgym_curve.values[-1],
        "trl": trl_curve.values[-1],
    }
    if "test" in result:
        summary[f"test_greedy_{metric}"] = {
            n: t["greedy"][metric] for n, t in result["test"].items()
        }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
