"""``textgym train sft|ppo|reward``: one parser per trainer, each with only its own flags.

Every field of the trainer's config is a flag (``textgym train ppo --help`` lists all of
``PPOConfig``); ``--config FILE.toml`` sets any of them, and the run's settings, at once,
and flags given beside it win. The run folder records the resolved settings in
``run.json``, which ``--resume`` continues under (``textgym.agents.run_folder``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

import gymnasium as gym

from textgym.agents import PPOConfig, SFTConfig
from textgym.agents.lora import LoraSettings
from textgym.agents.reward_model import RewardConfig
from textgym.agents.run_folder import read_run
from textgym.agents.train import ARCHITECTURES, train_ppo, train_sft
from textgym.agents.train_reward import train_reward
from textgym.app.cli_options import (
    add_config_options,
    given,
    load_config_file,
    parse_json_object,
)
from textgym.registration import env_ids

__all__ = ["add_train_parser"]

#: Run settings (beside the config's fields) that a ``--config`` file may hold.
PPO_RUN_KEYS = (
    "env",
    "env_kwargs",
    "init",
    "num_envs",
    "vector_mode",
    "arch",
    "lora_rank",
    "eval_every",
    "eval_episodes",
    "reward_model",
)
SFT_RUN_KEYS = ("env", "env_kwargs", "init", "arch")
REWARD_RUN_KEYS = (
    "env",
    "env_kwargs",
    "items",
    "held_out",
    "policy",
    "samples",
    "min_margin",
    "first_item",
    "pairs",
)


def _check_env(env_id: str | None) -> str:
    if env_id is None:
        raise ValueError("--env is required (or an `env = ...` line in --config)")
    if env_id not in gym.registry:
        raise ValueError(
            f"unknown env id {env_id!r}; known ids: {', '.join(env_ids())} (run `textgym list`)"
        )
    return env_id


def _settings(args: argparse.Namespace, cls: type, run_keys: tuple[str, ...]) -> dict[str, Any]:
    """What the user set: a ``--config`` file, overridden by flags given beside it."""
    fields = [f.name for f in dataclasses.fields(cls)]
    settings: dict[str, Any] = {}
    if args.config is not None:
        settings.update(load_config_file(args.config, (*fields, *run_keys)))
    flags = given(args, (*fields, *run_keys))
    if "env_kwargs" in flags:
        flags["env_kwargs"] = parse_json_object(flags["env_kwargs"])
    settings.update(flags)
    return settings


def _split(settings: dict[str, Any], cls: type) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = {f.name for f in dataclasses.fields(cls)}
    config = {k: v for k, v in settings.items() if k in fields}
    run = {k: v for k, v in settings.items() if k not in fields}
    return config, run


def _check_arch(args: argparse.Namespace) -> None:
    # Only flags: a run.json used as --config records both (the arch of what init loads).
    if hasattr(args, "arch") and hasattr(args, "init"):
        raise ValueError("--arch builds a new sft/ppo policy from a config; --init loads one")


def cmd_train_sft(args: argparse.Namespace) -> int:
    config, run = _split(_settings(args, SFTConfig, SFT_RUN_KEYS), SFTConfig)
    _check_arch(args)
    out = train_sft(
        _check_env(run.get("env")),
        args.out,
        SFTConfig(**config),
        init=run.get("init"),
        env_kwargs=run.get("env_kwargs"),
        arch=run.get("arch", "causal"),
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(f"saved the SFT model to {out}")
    return 0


def cmd_train_reward(args: argparse.Namespace) -> int:
    config, run = _split(_settings(args, RewardConfig, REWARD_RUN_KEYS), RewardConfig)
    out, accuracy = train_reward(
        _check_env(run.get("env")),
        args.out,
        RewardConfig(**config),
        items=run.get("items", 300),
        held_out=run.get("held_out", 100),
        env_kwargs=run.get("env_kwargs"),
        policy=run.get("policy"),
        samples=run.get("samples", 4),
        first_item=run.get("first_item", 0),
        min_margin=run.get("min_margin", 0.0),
        pairs=run.get("pairs"),
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    log = json.loads((out / "reward_log.json").read_text())
    hard = log["held_out_hard_accuracy"]
    hard_text = "" if hard is None else f", on {log['held_out_hard_pairs']} hard pairs {hard:.1%}"
    print(f"saved the reward model to {out}; held-out pairwise accuracy {accuracy:.1%}{hard_text}")
    return 0


def cmd_train_ppo(args: argparse.Namespace) -> int:
    config, run = _split(_settings(args, PPOConfig, PPO_RUN_KEYS), PPOConfig)
    rank = run.get("lora_rank", 0)
    if args.resume:
        env_id = run.get("env")
        if env_id is None:  # the run knows its env
            env_id = (read_run(args.out) or {}).get("env")
    else:
        env_id = run.get("env")
        _check_arch(args)
    ppo, rows = train_ppo(
        _check_env(env_id),
        args.out,
        config if args.resume else PPOConfig(**config),
        init=run.get("init"),
        num_envs=run.get("num_envs"),
        env_kwargs=run.get("env_kwargs"),
        resume=args.resume,
        overwrite=args.overwrite,
        vectorization_mode=run.get("vector_mode"),
        arch=run.get("arch"),
        lora=LoraSettings(rank=rank) if rank else None,
        reward_model=run.get("reward_model"),
        eval_every=run.get("eval_every", None if args.resume else 10),
        eval_episodes=run.get("eval_episodes"),
        progress=not args.quiet,
    )
    if not ppo.parallel.is_main:
        return 0  # under accelerate launch the main process reports
    last = rows[-1] if rows else {}
    print(
        f"PPO: {ppo.iteration} iterations, last reward_mean {last.get('env/reward_mean', 0):.3f}, "
        f"kl {last.get('objective/kl', 0):.2f}; model in {args.out}/policy, "
        f"curve in {args.out}/learning_curve.png"
    )
    return 0


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--env", default=argparse.SUPPRESS, help="environment id (required)")
    p.add_argument("--out", required=True, help=f"run folder ({what})")
    p.add_argument(
        "--env-kwargs",
        default=argparse.SUPPRESS,
        help="env arguments as a JSON object, e.g. '{\"level\": 1}'",
    )
    p.add_argument(
        "--config",
        default=None,
        help="a TOML file of settings (any flag's name with _ for -, e.g. "
        "`learning_rate = 3e-4`), or a run's run.json; flags given beside it win",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start anew in a --out that holds a run: the old folder is moved aside to "
        "<out>.old-<time>, never deleted",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a policy (sft warm start, ppo) or a reward model")
    algos = p.add_subparsers(dest="algo", required=True, metavar="{sft,ppo,reward}")

    q = algos.add_parser(
        "sft",
        help="behaviour cloning on oracle demonstrations (the warm start)",
        description="Behaviour-clone the env's oracle; the model goes to OUT/policy.",
    )
    _common(q, "model in OUT/policy, run.json, sft_log.json")
    q.add_argument("--init", default=argparse.SUPPRESS, help="start from this model folder")
    q.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default=argparse.SUPPRESS,
        help="the policy built from a config when there is no --init: tiny GPT-2 (causal, "
        "default), tiny Llama with rotary positions (llama) or tiny T5 (seq2seq)",
    )
    add_config_options(q, SFTConfig, aliases={"learning_rate": ["--lr"]})
    q.set_defaults(func=cmd_train_sft, parser=q)

    q = algos.add_parser(
        "ppo",
        help="PPO against the env through gym.make_vec",
        description="Train with PPO. The run folder holds policy/, checkpoints/, "
        "metrics.jsonl, TensorBoard scalars, learning_curve.png and run.json (the resolved "
        "settings, which --resume continues under). Ctrl-C stops after the current "
        "iteration and saves a checkpoint.",
    )
    _common(q, "policy/, checkpoints/, metrics.jsonl, learning_curve.png, run.json")
    q.add_argument("--init", default=argparse.SUPPRESS, help="start from this model folder")
    q.add_argument(
        "--arch",
        choices=ARCHITECTURES,
        default=argparse.SUPPRESS,
        help="the policy built from a config when there is no --init (default causal)",
    )
    q.add_argument(
        "--lora-rank",
        type=int,
        default=argparse.SUPPRESS,
        help="train LoRA adapters of this rank (needs textgym[peft]); default 0: all weights",
    )
    q.add_argument(
        "--reward-model",
        default=argparse.SUPPRESS,
        help="train against this reward model's score alone (a folder from `textgym train "
        "reward`); evaluations still report the task's own success",
    )
    q.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its newest intact checkpoint, under its "
        "recorded settings; --iterations N extends it",
    )
    q.add_argument(
        "--num-envs",
        type=int,
        default=argparse.SUPPRESS,
        help="envs in the vector env (default 16)",
    )
    q.add_argument(
        "--vector-mode",
        choices=["sync", "async", "threaded"],
        default=argparse.SUPPRESS,
        help="vector env kind (default sync); threaded overlaps slow tool calls (Python, "
        "Wiki); results are identical in every mode",
    )
    q.add_argument(
        "--eval-every",
        type=int,
        default=argparse.SUPPRESS,
        help="evaluate the greedy policy on the test split every N iterations and at the "
        "end, for the learning curve (default 10; 0: never)",
    )
    q.add_argument(
        "--eval-episodes",
        type=int,
        default=argparse.SUPPRESS,
        help="test-split items per evaluation (default 50)",
    )
    add_config_options(
        q,
        PPOConfig,
        aliases={
            "total_iterations": ["--iterations"],
            "episodes_per_iteration": ["--batch-size"],
            "learning_rate": ["--lr"],
        },
    )
    q.set_defaults(func=cmd_train_ppo, parser=q)

    q = algos.add_parser(
        "reward",
        help="a reward model on preference pairs from the env",
        description="Train a reward model on (chosen, rejected) pairs: the oracle, the "
        "random agent and (with --policy) samples of a trained policy play train items, "
        "and the task's score ranks their answers. The policy's failures are the hard "
        "negatives; the held-out accuracy on them is reported apart.",
    )
    _common(q, "the reward model and reward_log.json")
    q.add_argument(
        "--items",
        type=int,
        default=argparse.SUPPRESS,
        help="train items to draw pairs from (default 300)",
    )
    q.add_argument(
        "--held-out",
        type=int,
        default=argparse.SUPPRESS,
        help="held-out items for the accuracy (default 100)",
    )
    q.add_argument(
        "--first-item",
        type=int,
        default=argparse.SUPPRESS,
        help="the first train item (default 0); keep the pairs off items you validate on",
    )
    q.add_argument(
        "--policy",
        default=argparse.SUPPRESS,
        help="a trained policy folder (e.g. an SFT run's policy/) whose sampled episodes "
        "join the pairs; its failures are the hard negatives",
    )
    q.add_argument(
        "--samples",
        type=int,
        default=argparse.SUPPRESS,
        help="sampled episodes of --policy per item (default 4)",
    )
    q.add_argument(
        "--min-margin",
        type=float,
        default=argparse.SUPPRESS,
        help="pair two texts only when their task scores differ by more than this "
        "(default 0; e.g. 0.3 on sentiment, whose scores are continuous)",
    )
    q.add_argument(
        "--pairs",
        default=argparse.SUPPRESS,
        help="train on the pairs of an earlier run (its folder or pairs.jsonl) instead of "
        "playing the items again; the pair options above are then taken from that file",
    )
    add_config_options(q, RewardConfig, aliases={"learning_rate": ["--lr"]})
    q.set_defaults(func=cmd_train_reward, parser=q)
