"""Training runs: SFT warm start and PPO, with checkpoints, resume, logs and a plot.

These are the functions behind ``textgym train sft`` and ``textgym train ppo``. Envs are
made by id through the Gymnasium registry, so a third-party env registered with Gymnasium
trains the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm.auto import tqdm

from textgym.agents.checkpoint import load_latest_intact, save_checkpoint
from textgym.agents.devices import resolve_device, resolve_dtype
from textgym.agents.distributed import Collective, from_environment
from textgym.agents.lora import LoraSettings, add_lora
from textgym.agents.metrics import MetricsLog, plot_learning_curve, read_jsonl
from textgym.agents.model_sizes import MODEL_SIZES
from textgym.agents.policy_agent import PolicyAgent
from textgym.agents.ppo import PPO
from textgym.agents.ppo_config import PPOConfig
from textgym.agents.reward_model import LearnedReward, RewardConfig, RewardModel
from textgym.agents.run_control import GracefulStop, TrainingInterrupted
from textgym.agents.run_folder import (
    check_resume,
    prepare_run_folder,
    read_run,
    requested_settings,
    write_run,
)
from textgym.agents.seq2seq_value_head import Seq2SeqValueHeadLM, tiny_t5_config
from textgym.agents.sft import SFTConfig, oracle_demonstrations, sft
from textgym.agents.value_head import ValueHeadLM, tiny_gpt2_config, tiny_llama_config
from textgym.env_spec import env_spec
from textgym.fileio import atomic_write_text
from textgym.rollout import evaluate
from textgym.vector import make_vec

__all__ = [
    "train_sft",
    "train_ppo",
    "make_policy",
    "ARCHITECTURES",
    "TrainingInterrupted",
]

#: Policies built from a config: a tiny GPT-2 (``causal``), a tiny Llama with rotary
#: positions (``llama``) or a tiny T5 (encoder-decoder, ``seq2seq``).
ARCHITECTURES = ("causal", "llama", "seq2seq")


def make_policy(
    env: gym.Env,
    init: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    n_positions: int | None = None,
    arch: str = "causal",
    size: str = "tiny",
) -> ValueHeadLM:
    """A policy for ``env``: loaded from a local folder (either architecture), or built
    from a config: a GPT-2 (``arch="causal"``), a Llama (``arch="llama"``) or a T5
    (``arch="seq2seq"``) of one of the :data:`~textgym.agents.model_sizes.MODEL_SIZES`."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, got {arch!r}")
    if size not in MODEL_SIZES:
        raise ValueError(f"size must be one of {sorted(MODEL_SIZES)}, got {size!r}")
    dims = MODEL_SIZES[size]
    spec = env_spec(env)
    if init is not None:
        policy = ValueHeadLM.from_pretrained(init)
        if policy.model.get_input_embeddings().num_embeddings < spec.vocab_size:
            policy.resize_token_embeddings(spec.vocab_size, seed=seed)
        return policy
    eos = getattr(spec.tokenizer, "eos_token_id", 1) if spec.tokenizer is not None else 1
    if arch == "seq2seq":
        t5 = tiny_t5_config(
            spec.vocab_size,
            d_model=dims["width"],
            num_layers=dims["layers"],
            num_heads=dims["heads"],
            d_ff=2 * dims["width"],
            eos_token_id=eos,
            pad_token_id=spec.pad_id,
        )
        return Seq2SeqValueHeadLM.from_config(t5, seed=seed)
    positions = n_positions or spec.max_context or 1024
    build_config = tiny_llama_config if arch == "llama" else tiny_gpt2_config
    config = build_config(
        spec.vocab_size,
        n_layer=dims["layers"],
        n_embd=dims["width"],
        n_head=dims["heads"],
        n_positions=positions,
        eos_token_id=eos,
        pad_token_id=spec.pad_id,
    )
    return ValueHeadLM.from_config(config, seed=seed)


def _save_tokenizer(env: gym.Env, folder: Path) -> None:
    """The env's tokenizer beside the model, so ``hf:RUN`` and other tools load the pair."""
    tokenizer = env_spec(env).tokenizer
    if hasattr(tokenizer, "save_pretrained"):
        tokenizer.save_pretrained(folder)


def check_hardware(config: PPOConfig | SFTConfig | RewardConfig) -> None:
    """Refuse a device or dtype this machine lacks before a run folder is touched."""
    resolve_dtype(config.dtype, resolve_device(config.device))


def announce_moved(moved: Path | None, out: Path) -> None:
    if moved is not None:
        print(f"--overwrite: moved the previous run in {out} to {moved}")


def train_sft(
    env_id: str,
    out_dir: str | os.PathLike,
    config: SFTConfig | None = None,
    *,
    init: str | os.PathLike | None = None,
    env_kwargs: dict[str, Any] | None = None,
    arch: str = "causal",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Behaviour-clone the oracle of ``env_id``; save the model (with the env's tokenizer)
    to ``out_dir/policy`` and return that folder. ``arch`` picks the model built from a
    config when there is no ``init``. ``out_dir`` must be empty or new, unless
    ``overwrite`` moves the old one aside."""
    cfg = config or SFTConfig()
    check_hardware(cfg)
    out = Path(out_dir)
    moved = prepare_run_folder(out, overwrite=overwrite)
    announce_moved(moved, out)
    env = gym.make(env_id, **(env_kwargs or {}))
    policy = make_policy(env, init, seed=cfg.seed, arch=arch, size=cfg.model_size)
    demos = oracle_demonstrations(env, cfg.demonstrations, seed=cfg.seed, progress=progress)
    losses = sft(policy, demos, cfg, pad_id=env_spec(env).pad_id, progress=progress)
    policy.save_pretrained(out / "policy")
    _save_tokenizer(env, out / "policy")
    env.close()
    record = {
        "kind": "sft",
        "env": env_id,
        "env_kwargs": env_kwargs or {},
        "init": str(init) if init else None,
        "arch": policy.architecture,
        "config": asdict(cfg),
    }
    write_run(out, record)
    atomic_write_text(out / "sft_log.json", json.dumps({**record, "losses": losses}))
    return out / "policy"


def _ppo_run_record(
    env_id: str,
    env_kwargs: dict[str, Any],
    init: str | os.PathLike | None,
    num_envs: int,
    vectorization_mode: str,
    processes: int,
    policy: ValueHeadLM,
    lora: LoraSettings | None,
    config: PPOConfig,
    eval_every: int,
    eval_episodes: int,
    reward_model: str | os.PathLike | None = None,
) -> dict[str, Any]:
    return {
        "kind": "ppo",
        "env": env_id,
        "env_kwargs": env_kwargs,
        "init": str(init) if init else None,
        "num_envs": num_envs,
        "vector_mode": vectorization_mode,
        "processes": processes,
        "arch": policy.architecture,
        "lora": asdict(lora) if lora is not None else None,
        "lora_rank": lora.rank if lora is not None else 0,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "reward_model": str(reward_model) if reward_model is not None else None,
        "config": config.to_dict(),
    }


def learned_reward_wrappers(reward_model: str | os.PathLike | None) -> list | None:
    """The wrapper that puts a reward model's score in place of the task's reward, for
    ``make_vec``; one model shared by the envs of a process."""
    if reward_model is None:
        return None
    model = RewardModel.from_pretrained(reward_model)
    return [lambda env: LearnedReward(env, model)]


def _evaluate_policy(env: gym.Env, ppo: PPO, episodes: int) -> dict[str, float]:
    """Greedy test-split scores of the current policy: points on the learning curve. The
    agent has its own generator, so training's sampling is not disturbed."""
    agent = PolicyAgent(env, ppo.policy, temperature=0.0, seed=ppo.config.seed)
    result = evaluate(env, agent, split="test", episodes=episodes, seed=0, progress=False)
    return {"eval/success_rate": result.success_rate, "eval/mean_reward": result.mean_reward}


def _device_setting(config: PPOConfig | Mapping[str, Any] | None, out_dir, resume: bool) -> str:
    """The run's ``device`` setting before its config is built: given, or on ``resume``
    the recorded one."""
    if isinstance(config, PPOConfig):
        return config.device
    if config and "device" in config:
        return str(config["device"])
    if resume:
        return str(((read_run(Path(out_dir)) or {}).get("config") or {}).get("device", "cpu"))
    return "cpu"


def train_ppo(
    env_id: str,
    out_dir: str | os.PathLike,
    config: PPOConfig | Mapping[str, Any] | None = None,
    *,
    init: str | os.PathLike | None = None,
    iterations: int | None = None,
    num_envs: int | None = None,
    env_kwargs: dict[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    vectorization_mode: str | None = None,
    arch: str | None = None,
    lora: LoraSettings | None = None,
    reward_model: str | os.PathLike | None = None,
    parallel: Collective | None = None,
    eval_every: int | None = None,
    eval_episodes: int | None = None,
    progress: bool = True,
) -> tuple[PPO, list[dict[str, Any]]]:
    """Train with PPO until ``iterations`` (default ``config.total_iterations``).

    ``config`` is a :class:`PPOConfig` or a mapping of the fields to change from the
    defaults. ``arch`` picks the model built from a config when there is no ``init``;
    ``lora`` trains low-rank adapters on a frozen base instead of every weight (needs
    peft). With ``reward_model`` (a folder from ``textgym train reward``), the policy is
    trained against that model's score alone (:class:`LearnedReward`); the task's own
    reward is never seen by the update, and the evaluations still report the task's
    verdict. Every ``eval_every`` iterations (0: never) the greedy policy plays the first
    ``eval_episodes`` test-split items; the scores join that iteration's metrics row.

    The run's settings are recorded in ``out_dir/run.json``. With ``resume``, training
    continues from the newest intact checkpoint under those settings; anything given
    again with another value is refused (:class:`RunFolderError`), except a larger
    ``iterations``, which extends the run. The iterations that follow match an
    uninterrupted run with the same seed. Without ``resume``, ``out_dir`` must be empty
    or new, unless ``overwrite`` moves the old run aside.

    The first Ctrl-C stops after the current iteration, saves a checkpoint and the
    model and raises :class:`TrainingInterrupted`.

    Under ``accelerate launch`` (``parallel`` defaults to what the launcher set up) every
    process runs ``num_envs`` envs and collects its share of each iteration's episodes;
    the main process alone writes logs, checkpoints and the model.
    """
    owns_group = parallel is None
    # The device setting picks the process group's backend (NCCL on GPUs, else gloo).
    parallel = parallel or from_environment(_device_setting(config, out_dir, resume))
    main = parallel.is_main
    out = Path(out_dir)
    checkpoints = out / "checkpoints"
    if resume:
        prepare_run_folder(out, resume=True)
        recorded = read_run(out)
        envs_args = recorded or {}
        env_kwargs_now = envs_args.get("env_kwargs", env_kwargs or {})
        asked = requested_settings(
            env_id,
            config,
            {
                "env_kwargs": env_kwargs,
                "num_envs": num_envs,
                "vector_mode": vectorization_mode,
                "arch": arch,
                "eval_every": eval_every,
                "eval_episodes": eval_episodes,
                # Given again, they must be the run's own: the checkpoint holds the model.
                "init": str(init) if init is not None else None,
                "lora_rank": lora.rank if lora is not None else None,
                "reward_model": str(reward_model) if reward_model is not None else None,
            },
            iterations,
        )
        mode = asked.get("vector_mode", envs_args.get("vector_mode", "sync"))
        wrappers = learned_reward_wrappers(envs_args.get("reward_model"))
        envs = make_vec(
            env_id,
            envs_args.get("num_envs", num_envs or 16),
            mode,
            wrappers=wrappers,
            **env_kwargs_now,
        )
        try:
            ppo, found = load_latest_intact(checkpoints, envs, parallel)
        except BaseException:
            envs.close()
            raise
        if recorded is None:  # a run from before run.json: its checkpoint's config rules
            recorded = {"env": env_id, "config": ppo.config.to_dict()}
        run = check_resume(out, recorded, asked, ppo.iteration)
        ppo.config = PPOConfig.from_dict(run["config"])
        if main:
            print(f"--resume: continuing {out} from {found.name} (iteration {ppo.iteration})")
    else:
        cfg = config if isinstance(config, PPOConfig) else PPOConfig(**dict(config or {}))
        if iterations is not None:
            cfg = PPOConfig.from_dict({**cfg.to_dict(), "total_iterations": iterations})
        check_hardware(cfg)
        if main:  # the other processes of a data-parallel run write nothing
            announce_moved(prepare_run_folder(out, overwrite=overwrite), out)
        env_kwargs_now = env_kwargs or {}
        mode = vectorization_mode or "sync"
        n_envs = num_envs or 16
        wrappers = learned_reward_wrappers(reward_model)
        envs = make_vec(env_id, n_envs, mode, wrappers=wrappers, **env_kwargs_now)
        env = gym.make(env_id, **env_kwargs_now)
        policy = make_policy(env, init, seed=cfg.seed, arch=arch or "causal")
        env.close()
        if lora is not None:
            add_lora(policy, lora)
        ppo = PPO(envs, policy, cfg, parallel=parallel)
        run = _ppo_run_record(
            env_id,
            env_kwargs_now,
            init,
            n_envs,
            mode,
            parallel.world_size,
            policy,
            lora,
            ppo.config,
            eval_every or 0,
            eval_episodes or 50,
            reward_model,
        )
    if ppo.config.ptx_coef > 0:
        # Data, not checkpoint state: drawn from the same seeds again on resume.
        demo_env = gym.make(env_id, **env_kwargs_now)
        ppo.demonstrations = oracle_demonstrations(
            demo_env,
            ppo.config.ptx_demonstrations,
            seed=ppo.config.seed,
            progress=progress and main,
        )
        demo_env.close()
    log = MetricsLog(out) if main else None
    if log is not None:
        log.truncate_after(ppo.iteration)
        write_run(out, run)
    # The main process's own env: test-split evaluations and the tokenizer to save.
    main_env = gym.make(env_id, **env_kwargs_now) if main else None
    eval_env = main_env if run.get("eval_every") else None
    total = ppo.config.total_iterations
    every = ppo.config.checkpoint_every
    bar = tqdm(
        total=total,
        initial=min(ppo.iteration, total),
        desc="ppo",
        disable=not (progress and main),
    )
    saved: Path | None = None
    saved_at = -1  # every process tracks it: saving is collective under data parallelism
    stop = GracefulStop()
    try:
        with stop:
            while ppo.iteration < total and not stop.requested:
                stats = ppo.step()
                if eval_env is not None and (
                    ppo.iteration % run["eval_every"] == 0 or ppo.iteration == total
                ):
                    stats.update(_evaluate_policy(eval_env, ppo, run["eval_episodes"]))
                if log is not None:
                    log.log(stats)
                bar.update(1)
                bar.set_postfix(
                    reward=f"{stats['env/reward_mean']:.3f}", kl=f"{stats['objective/kl']:.2f}"
                )
                if every and ppo.iteration % every == 0:
                    saved = save_checkpoint(ppo, checkpoints, keep=ppo.config.keep_checkpoints)
                    saved_at = ppo.iteration
            # Under accelerate launch, Ctrl-C reaches every process of the group alike.
            stopping = stop.requested
    finally:
        bar.close()
        if log is not None:
            log.close()
    if saved_at != ppo.iteration:
        saved = save_checkpoint(ppo, checkpoints, keep=ppo.config.keep_checkpoints)
    envs.close()
    rows: list[dict[str, Any]] = []
    if main:
        ppo.policy.save_pretrained(out / "policy")
        _save_tokenizer(main_env, out / "policy")
        main_env.close()
        rows = read_jsonl(log.path)
        if rows:
            plot_learning_curve(rows, out / "learning_curve.png", title=f"PPO on {env_id}")
    if owns_group:
        parallel.close()  # after the main process has written; others wait at its barrier
    if stopping:
        raise TrainingInterrupted(ppo.iteration, saved, out)
    return ppo, rows
