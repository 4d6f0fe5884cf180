"""Training runs: SFT warm start and PPO, with checkpoints, resume, logs and a plot.

These are the functions behind ``textgym train sft`` and ``textgym train ppo``. Envs are
made by id through the Gymnasium registry, so a third-party env registered with Gymnasium
trains the same way.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

from textgym.agents.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from textgym.agents.distributed import Collective, from_environment
from textgym.agents.lora import LoraSettings, add_lora
from textgym.agents.metrics import MetricsLog, plot_learning_curve, read_jsonl
from textgym.agents.ppo import PPO
from textgym.agents.ppo_config import PPOConfig
from textgym.agents.reward_model import RewardConfig
from textgym.agents.rollouts import env_spec
from textgym.agents.sft import SFTConfig, oracle_demonstrations, sft
from textgym.agents.value_head import ValueHeadLM, tiny_gpt2_config
from textgym.vector import make_vec

__all__ = ["train_sft", "train_ppo", "make_policy", "ARCHITECTURES"]

#: Policies built from a config: a tiny GPT-2 or a tiny T5 (encoder-decoder).
ARCHITECTURES = ("causal", "seq2seq")


def make_policy(
    env: gym.Env,
    init: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    n_positions: int | None = None,
    arch: str = "causal",
) -> ValueHeadLM:
    """A policy for ``env``: loaded from a local folder (either architecture), or built
    from a config: a tiny GPT-2 (``arch="causal"``) or a tiny T5 (``arch="seq2seq"``)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    spec = env_spec(env)
    if init is not None:
        policy = ValueHeadLM.from_pretrained(init)
        if policy.model.get_input_embeddings().num_embeddings < spec.vocab_size:
            policy.resize_token_embeddings(spec.vocab_size)
        return policy
    tokenizer = env.unwrapped.tokenizer if hasattr(env, "unwrapped") else None
    eos = getattr(tokenizer, "eos_token_id", 1) if tokenizer is not None else 1
    if arch == "seq2seq":
        from textgym.agents.seq2seq_value_head import Seq2SeqValueHeadLM, tiny_t5_config

        t5 = tiny_t5_config(spec.vocab_size, eos_token_id=eos, pad_token_id=spec.pad_id)
        return Seq2SeqValueHeadLM.from_config(t5, seed=seed)
    positions = n_positions or int(getattr(env.unwrapped, "max_context", 1024))
    config = tiny_gpt2_config(
        spec.vocab_size, n_positions=positions, eos_token_id=eos, pad_token_id=spec.pad_id
    )
    return ValueHeadLM.from_config(config, seed=seed)


def train_sft(
    env_id: str,
    out_dir: str | os.PathLike,
    config: SFTConfig | None = None,
    *,
    init: str | os.PathLike | None = None,
    env_kwargs: dict[str, Any] | None = None,
    arch: str = "causal",
    progress: bool = True,
) -> Path:
    """Behaviour-clone the oracle of ``env_id``; save the model to ``out_dir``. ``arch``
    picks the model built from a config when there is no ``init``."""
    cfg = config or SFTConfig()
    env = gym.make(env_id, **(env_kwargs or {}))
    policy = make_policy(env, init, seed=cfg.seed, arch=arch)
    demos = oracle_demonstrations(env, cfg.demonstrations, seed=cfg.seed, progress=progress)
    losses = sft(policy, demos, cfg, pad_id=env_spec(env).pad_id, progress=progress)
    env.close()
    out = Path(out_dir)
    policy.save_pretrained(out)
    (out / "sft_log.json").write_text(
        json.dumps(
            {
                "config": cfg.__dict__,
                "env": env_id,
                "env_kwargs": env_kwargs or {},
                "arch": policy.architecture,
                "losses": losses,
            }
        )
    )
    return out


def train_ppo(
    env_id: str,
    out_dir: str | os.PathLike,
    config: PPOConfig | None = None,
    *,
    init: str | os.PathLike | None = None,
    iterations: int | None = None,
    num_envs: int = 16,
    env_kwargs: dict[str, Any] | None = None,
    resume: bool = False,
    vectorization_mode: str = "sync",
    arch: str = "causal",
    lora: LoraSettings | None = None,
    parallel: Collective | None = None,
    progress: bool = True,
) -> tuple[PPO, list[dict[str, Any]]]:
    """Train with PPO for ``iterations`` (default ``config.total_iterations``).

    ``arch`` picks the model built from a config when there is no ``init``; ``lora``
    trains low-rank adapters on a frozen base instead of every weight (needs peft).

    With ``resume``, continue from the latest checkpoint in ``out_dir`` (its config wins);
    the iterations that follow match an uninterrupted run with the same seed.

    Under ``accelerate launch`` (``parallel`` defaults to what the launcher set up) every
    process runs ``num_envs`` envs and collects its share of each iteration's episodes;
    the main process alone writes logs, checkpoints and the model.
    """
    owns_group = parallel is None
    parallel = parallel or from_environment()
    main = parallel.is_main
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # "sync", "async" or "threaded" (tool calls of the envs overlap; textgym.vector).
    envs = make_vec(env_id, num_envs, vectorization_mode, **(env_kwargs or {}))
    log = MetricsLog(out) if main else None
    checkpoints = out / "checkpoints"
    found = latest_checkpoint(checkpoints) if resume else None
    if resume and found is None:
        raise FileNotFoundError(f"--resume: no checkpoint under {checkpoints}")
    if found is not None:
        ppo = load_checkpoint(found, envs, parallel)
        if log is not None:
            log.truncate_after(ppo.iteration)
    else:
        cfg = config or PPOConfig()
        env = gym.make(env_id, **(env_kwargs or {}))
        policy = make_policy(env, init, seed=cfg.seed, arch=arch)
        env.close()
        if lora is not None:
            add_lora(policy, lora)
        ppo = PPO(envs, policy, cfg, parallel=parallel)
        if log is not None:
            log.truncate_after(0)
            run = {
                "env": env_id,
                "env_kwargs": env_kwargs or {},
                "init": str(init) if init else None,
                "num_envs": num_envs,
                "processes": parallel.world_size,
                "arch": policy.architecture,
                "lora": asdict(lora) if lora is not None else None,
                "config": ppo.config.to_dict(),
            }
            (out / "run.json").write_text(json.dumps(run, indent=2))
    total = iterations if iterations is not None else ppo.config.total_iterations
    every = ppo.config.checkpoint_every
    bar = tqdm(
        total=total,
        initial=min(ppo.iteration, total),
        desc="ppo",
        disable=not (progress and main),
    )
    try:
        while ppo.iteration < total:
            stats = ppo.step()
            if log is not None:
                log.log(stats)
            bar.update(1)
            bar.set_postfix(
                reward=f"{stats['env/reward_mean']:.3f}", kl=f"{stats['objective/kl']:.2f}"
            )
            if every and ppo.iteration % every == 0:
                save_checkpoint(ppo, checkpoints, keep=ppo.config.keep_checkpoints)
    finally:
        bar.close()
        if log is not None:
            log.close()
    save_checkpoint(ppo, checkpoints, keep=ppo.config.keep_checkpoints)
    envs.close()
    rows: list[dict[str, Any]] = []
    if main:
        ppo.policy.save_pretrained(out / "policy")
        rows = read_jsonl(log.path)
        if rows:
            plot_learning_curve(rows, out / "learning_curve.png", title=f"PPO on {env_id}")
    if owns_group:
        parallel.close()  # after the main process has written; others wait at its barrier
    return ppo, rows


def train_reward(
    env_id: str,
    out_dir: str | os.PathLike,
    config: RewardConfig | None = None,
    *,
    items: int = 300,
    held_out: int = 100,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[Path, float]:
    """Train a reward model on preference pairs from ``env_id``: the oracle and the random
    agent play train items ``0..items-1`` and the task's score ranks their answers; items
    ``items..items+held_out-1`` give held-out pairs. Saves the model to ``out_dir`` with
    ``reward_log.json`` (losses, pair counts, held-out accuracy); returns the folder and the
    held-out pairwise accuracy."""
    from textgym.agents.oracle import OracleAgent
    from textgym.agents.random_agent import RandomAgent
    from textgym.agents.reward_model import (
        RewardModel,
        pairwise_accuracy,
        preference_pairs,
        train_reward_model,
    )

    for name, value in (("items", items), ("held_out", held_out)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    cfg = config or RewardConfig()
    env = gym.make(env_id, **(env_kwargs or {}))
    agents = [OracleAgent(env), RandomAgent(env, seed=cfg.seed)]
    train_pairs = preference_pairs(env, agents, range(items), seed=cfg.seed, progress=progress)
    test_pairs = preference_pairs(env, agents, range(items, items + held_out), seed=cfg.seed)
    env.close()
    if not train_pairs or not test_pairs:
        raise ValueError(
            f"{env_id}: the oracle and random agents scored the same on every item, so "
            "there are no preference pairs; try more items or other env_kwargs"
        )
    rm = RewardModel.from_config(cfg)
    losses = train_reward_model(rm, train_pairs, progress=progress)
    accuracy = pairwise_accuracy(rm, test_pairs)
    out = Path(out_dir)
    rm.save_pretrained(out)
    (out / "reward_log.json").write_text(
        json.dumps(
            {
                "env": env_id,
                "env_kwargs": env_kwargs or {},
                "config": cfg.__dict__,
                "train_pairs": len(train_pairs),
                "held_out_pairs": len(test_pairs),
                "held_out_accuracy": accuracy,
                "losses": losses,
            }
        )
    )
    return out, accuracy
