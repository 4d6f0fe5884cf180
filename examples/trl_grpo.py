"""Train a local causal LM with TRL's GRPOTrainer on a textgym env, multi-turn.

    python examples/trl_grpo.py --max-steps 10                   # a tiny Llama from a config
    python examples/trl_grpo.py --model path/to/local/model --max-steps 200

Each GRPO prompt is an env item (:func:`textgym.integrations.trl.make_dataset`); the
rollout plays whole episodes with the trainer's model (agent turns and tool responses in
one completion, tool tokens masked out of the loss) and GRPO's reward is the env's.
Test success is measured before and after with textgym's own evaluation (greedy).

Honest expectations: a randomly initialised model (no ``--model``) only shows that the
loop runs; it scores 0 before and after a few minutes of CPU. Learning to use the tool
needs a model that already writes turns in the env's format, e.g. one trained with
``textgym train sft`` or an instruct model with ``--tool-format chat``.
Nothing is downloaded: ``--model`` is a local folder.
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import torch
from transformers import AutoModelForCausalLM

import textgym  # noqa: F401  (registers the env ids)
from textgym.agents.policy_agent import PolicyAgent
from textgym.agents.value_head import ValueHeadLM, tiny_llama_config
from textgym.integrations import trl as textgym_trl
from textgym.rollout import evaluate

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
from trl import GRPOConfig, GRPOTrainer  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--env", default="TextEnv-Calculator-v0", help="a textgym env id")
    parser.add_argument("--model", help="local model folder (default: a tiny random Llama)")
    parser.add_argument("--tool-format", choices=["markers", "chat"], default="markers")
    parser.add_argument("--max-steps", type=int, default=10, help="GRPO optimizer steps")
    parser.add_argument("--items", type=int, default=64, help="train items in the dataset")
    parser.add_argument("--num-generations", type=int, default=4, help="episodes per item")
    parser.add_argument("--batch-size", type=int, default=8, help="episodes per step")
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--max-turns", type=int, default=3)
    parser.add_argument("--max-turn-tokens", type=int, default=32)
    parser.add_argument("--max-context", type=int, default=1024, help="a chat prompt is long")
    parser.add_argument("--eval-episodes", type=int, default=20, help="test items, 0: skip")
    parser.add_argument("--output-dir", default="runs/trl_grpo")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def load_model(args: argparse.Namespace, tokenizer) -> torch.nn.Module:
    """The local folder, or a tiny Llama over the env's tokenizer (ByT5 + markers)."""
    if args.model:
        model = AutoModelForCausalLM.from_pretrained(args.model, local_files_only=True)
    else:
        torch.manual_seed(args.seed)
        config = tiny_llama_config(
            len(tokenizer), eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
        )
        model = AutoModelForCausalLM.from_config(config)
    return textgym_trl.resize_for_env(model, tokenizer, seed=args.seed)


def test_success(model, env_kwargs: dict, args: argparse.Namespace) -> float:
    """Greedy success on the first test items, through textgym's PolicyAgent."""
    env = gym.make(args.env, **env_kwargs)
    try:
        agent = PolicyAgent(env, ValueHeadLM(model).to(model.device), seed=args.seed)
        result = evaluate(env, agent, episodes=args.eval_episodes, progress=False)
        return result.success_rate
    finally:
        env.close()


def main() -> None:
    args = parse_args()
    env_kwargs = {
        "tokenizer": args.model,  # None: ByT5 with the markers, built locally
        "tool_format": args.tool_format,
        "max_turns": args.max_turns,
        "max_turn_tokens": args.max_turn_tokens,
        "max_context": args.max_context,
    }
    tokenizer = textgym_trl.env_tokenizer(args.env, env_kwargs)
    model = load_model(args, tokenizer)
    if args.eval_episodes:
        print(f"test success before: {test_success(model, env_kwargs, args):.2f}")

    config = GRPOConfig(
        output_dir=args.output_dir,
        use_cpu=not torch.cuda.is_available(),
        max_steps=args.max_steps,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        gradient_checkpointing=False,  # TRL defaults to True: slower on a small model
        seed=args.seed,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=textgym_trl.env_reward,
        args=config,
        train_dataset=textgym_trl.make_dataset(args.env, args.items, env_kwargs=env_kwargs),
        processing_class=tokenizer,
        rollout_func=textgym_trl.make_rollout_func(args.env, env_kwargs=env_kwargs, seed=args.seed),
    )
    started = time.perf_counter()
    trainer.train()
    print(f"GRPO: {args.max_steps} steps in {time.perf_counter() - started:.0f} s")
    trainer.save_model(args.output_dir)
    if args.eval_episodes:
        print(f"test success after: {test_success(trainer.model, env_kwargs, args):.2f}")


if __name__ == "__main__":
    main()
