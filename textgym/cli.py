"""The ``textgym`` command: list, play, eval and demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import gymnasium as gym

import textgym
from textgym.multiagent import MULTIAGENT_ENVS
from textgym.registration import ENVS
from textgym.specs import SPEC_HELP, make_agent
from textgym.vector import VectorEnvWorkerDied

__all__ = ["main"]


def _make_env(env_id: str, **kwargs) -> gym.Env:
    known = {entry.id for entry in ENVS}
    if env_id not in gym.registry:
        raise ValueError(
            f"unknown env id {env_id!r}; known ids: {', '.join(sorted(known))} (run `textgym list`)"
        )
    return gym.make(env_id, **kwargs)


def cmd_list(args: argparse.Namespace) -> int:
    width = max(len(entry.id) for entry in (*ENVS, *MULTIAGENT_ENVS))
    for entry in ENVS:
        print(f"{entry.id:<{width}}  tool={entry.tool:<10}  {entry.summary}")
    print("\nmulti-agent (PettingZoo; textgym.make_multiagent(id)):")
    for ma in MULTIAGENT_ENVS:
        print(f"{ma.id:<{width}}  tool={ma.tool:<10}  [{ma.api}] {ma.summary}")
    return 0


def _transcript(env: gym.Env, colour: bool) -> str:
    return env.unwrapped.transcript(colour=colour)


def cmd_play(args: argparse.Namespace) -> int:
    env = _make_env(args.env)
    colour = args.color == "on" or (args.color == "auto" and sys.stdout.isatty())
    options = {"split": args.split}
    if args.index is not None:
        options["index"] = args.index
    base = env.unwrapped
    print(
        "Type one turn per line; markers are written as text, e.g. "
        "<request><Calculator>2+3<call> or Result=5<submit>. Ctrl-D quits.\n"
    )
    seed = args.seed
    while True:
        env.reset(seed=seed, options=options)
        print(_transcript(env, colour))
        done = False
        while not done:
            try:
                line = input("> ")
            except EOFError:
                print()
                env.close()
                return 0
            _, reward, terminated, truncated, info = env.step(base.encode_turn(line))
            done = terminated or truncated
            print(_transcript(env, colour))
        status = "success" if info.get("success") else ("truncated" if truncated else "failed")
        print(f"\nepisode over: reward {reward:g} ({status})\n")
        seed = None if seed is None else seed + 1
        options.pop("index", None)


def cmd_eval(args: argparse.Namespace) -> int:
    env = _make_env(args.env)
    agent = make_agent(args.agent, env, seed=args.seed)
    result = textgym.evaluate(
        env,
        agent,
        split=args.split,
        episodes=args.episodes,
        seed=args.seed,
        progress=not args.quiet,
        env_id=args.env,
    )
    env.close()
    summary = {"agent": args.agent, **result.summary()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.agent} on {args.env} ({result.split}, {result.n} episodes): "
            f"success {result.success_rate:.1%}, mean reward {result.mean_reward:.3f}, "
            f"tool calls/episode {result.mean_tool_calls:.2f}"
        )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from textgym.agents import PPOConfig, SFTConfig
    from textgym.agents.lora import LoraSettings
    from textgym.agents.train import train_ppo, train_sft

    if args.env not in gym.registry:
        _make_env(args.env)  # raises the unknown-id error
    try:
        env_kwargs = json.loads(args.env_kwargs) if args.env_kwargs else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"--env-kwargs is not JSON: {exc}") from None
    if not isinstance(env_kwargs, dict):
        raise ValueError("--env-kwargs must be a JSON object")
    if args.lora_rank and (args.algo != "ppo" or args.resume):
        raise ValueError("--lora-rank applies to a new `train ppo` run, not sft or --resume")
    if args.arch is not None and (args.init or args.resume or args.algo == "reward"):
        raise ValueError("--arch builds a new sft/ppo policy; --init and --resume load one")
    arch = args.arch or "causal"
    if args.algo == "reward":
        from textgym.agents.reward_model import RewardConfig
        from textgym.agents.train import train_reward

        out, accuracy = train_reward(
            args.env,
            args.out,
            RewardConfig(
                steps=args.steps,
                batch_size=args.batch_size,
                learning_rate=args.lr or 5e-4,
                seed=args.seed,
                with_prompt=args.with_prompt,
            ),
            items=args.items,
            held_out=args.held_out,
            env_kwargs=env_kwargs,
            progress=not args.quiet,
        )
        print(f"saved the reward model to {out}; held-out pairwise accuracy {accuracy:.1%}")
        return 0
    if args.algo == "sft":
        out = train_sft(
            args.env,
            args.out,
            SFTConfig(
                steps=args.steps,
                batch_size=args.batch_size,
                learning_rate=args.lr or 1e-3,
                seed=args.seed,
                demonstrations=args.demonstrations,
            ),
            init=args.init,
            env_kwargs=env_kwargs,
            arch=arch,
            progress=not args.quiet,
        )
        print(f"saved the SFT model to {out}")
        return 0
    config = PPOConfig(
        seed=args.seed,
        episodes_per_iteration=args.batch_size,
        mini_batch_size=args.mini_batch_size,
        learning_rate=args.lr or 1e-4,
        total_iterations=args.iterations,
        checkpoint_every=args.checkpoint_every,
    )
    ppo, rows = train_ppo(
        args.env,
        args.out,
        config,
        init=args.init,
        iterations=args.iterations,
        num_envs=args.num_envs,
        env_kwargs=env_kwargs,
        resume=args.resume,
        vectorization_mode=args.vector_mode,
        arch=arch,
        lora=LoraSettings(rank=args.lora_rank) if args.lora_rank else None,
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


def _ids(envs: Sequence[str] | None) -> list[str] | None:
    for env_id in envs or ():
        if env_id not in gym.registry:
            _make_env(env_id)  # raises the unknown-id error
    return list(envs) if envs else None


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from textgym import leaderboard as lb
    from textgym.leaderboard.report import headline_table

    if args.action == "run":
        board = lb.run_board(
            args.agents,
            args.out,
            env_ids=_ids(args.envs),
            episodes=args.episodes,
            seed=args.seed,
            names=args.names,
            progress=not args.quiet,
            chart=not args.no_chart,
        )
        print("\n".join(headline_table(board)))
        print(
            f"\nwrote {args.out}/leaderboard.json, leaderboard.md"
            + ("" if args.no_chart else ", leaderboard.png")
        )
        return 0
    if args.action == "submit":
        entry = lb.evaluate_agent(
            args.agent,
            _ids(args.envs),
            name=args.name,
            episodes=args.episodes,
            seed=args.seed,
            cells_dir=args.cells,
            progress=not args.quiet,
            description=args.description,
        )
        lb.validate_entry(entry, episodes=args.episodes)
        from textgym.fileio import atomic_write_text

        atomic_write_text(args.output, json.dumps(entry, indent=1) + "\n")
        for cell in entry["results"]:
            print(f"{cell['env']}: {cell['metric']} {cell['metrics'][cell['metric']]:.4f}")
        print(f"wrote {args.output}; merge it with `textgym leaderboard merge {args.output}`")
        return 0
    if args.action == "merge":
        _, names = lb.merge_entries(args.entries, args.out, chart=not args.no_chart)
        print(f"merged {', '.join(names)} into {args.out}/leaderboard.json")
        return 0
    for path in args.entries:  # validate
        entry = lb.load_entry(path, episodes=args.episodes)
        print(f"{path}: valid entry for {entry['agent']['name']!r} ({len(entry['results'])} envs)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from textgym.demo import run_demo

    return run_demo(
        episodes=args.episodes,
        out_dir=args.out,
        sft_steps=args.sft_steps,
        ppo_iterations=args.iterations,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textgym", description="Tool use by language models as Gymnasium environments."
    )
    parser.add_argument("--version", action="version", version=f"textgym {textgym.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the registered environments")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("play", help="play an environment yourself in the terminal")
    p.add_argument("env", help="environment id, e.g. TextEnv-Calculator-v0")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--split", choices=textgym.SPLITS, default="train")
    p.add_argument("--index", type=int, default=None, help="item index within the split")
    p.add_argument("--color", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--no-color", action="store_true", help="same as --color off")
    p.set_defaults(func=cmd_play)

    p = sub.add_parser("eval", help="evaluate an agent on an environment's test split")
    p.add_argument("--agent", required=True, help=SPEC_HELP)
    p.add_argument("--env", required=True, help="environment id")
    p.add_argument("--episodes", type=int, default=None, help="default: the whole test split")
    p.add_argument("--split", choices=textgym.SPLITS, default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("train", help="train an agent: sft (warm start) or ppo, or a reward model")
    p.add_argument("algo", choices=["sft", "ppo", "reward"])
    p.add_argument("--env", required=True, help="environment id")
    p.add_argument("--out", required=True, help="output folder (model, logs, checkpoints)")
    p.add_argument("--init", default=None, help="start from this local model folder")
    p.add_argument(
        "--arch",
        choices=["causal", "seq2seq"],
        default=None,
        help="the new policy built from a config: tiny GPT-2 (causal, default) or tiny T5",
    )
    p.add_argument(
        "--lora-rank",
        type=int,
        default=0,
        help="ppo: train LoRA adapters of this rank (needs textgym[peft]); 0: full weights",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=None, help="default 1e-3 (sft), 1e-4 (ppo)")
    p.add_argument(
        "--batch-size", type=int, default=32, help="episodes per step (sft) or per iteration (ppo)"
    )
    p.add_argument("--steps", type=int, default=300, help="sft or reward gradient steps")
    p.add_argument("--demonstrations", type=int, default=2000, help="sft oracle episodes")
    p.add_argument("--iterations", type=int, default=100, help="ppo iterations")
    p.add_argument("--mini-batch-size", type=int, default=8)
    p.add_argument("--num-envs", type=int, default=16)
    p.add_argument(
        "--vector-mode",
        choices=["sync", "async", "threaded"],
        default="sync",
        help="ppo vector env: threaded overlaps slow tool calls (Python, Wiki)",
    )
    p.add_argument("--checkpoint-every", type=int, default=10)
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument("--items", type=int, default=300, help="reward: train items for pairs")
    p.add_argument("--held-out", type=int, default=100, help="reward: held-out items")
    p.add_argument("--with-prompt", action="store_true", help="reward: score prompt + answer")
    p.add_argument(
        "--env-kwargs", default=None, help="env arguments as JSON, e.g. '{\"level\": 1}'"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("leaderboard", help="rank agents on every env's fixed test split")
    lb_sub = p.add_subparsers(dest="action", required=True)
    q = lb_sub.add_parser("run", help="evaluate agent specs and write the board (resumable)")
    q.add_argument("--agents", nargs="+", default=["random", "oracle"], help=SPEC_HELP)
    q.add_argument("--names", nargs="+", default=None, help="display names, one per agent")
    q.add_argument("--out", default="leaderboard", help="board folder (default ./leaderboard)")
    q.add_argument("--envs", nargs="+", default=None, help="env ids (default: all)")
    q.add_argument("--episodes", type=int, default=None, help="default: whole test splits")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--no-chart", action="store_true", help="skip leaderboard.png")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = lb_sub.add_parser("submit", help="evaluate one agent into an entry file to merge")
    q.add_argument("--agent", required=True, help=SPEC_HELP)
    q.add_argument("--name", required=True, help="the agent's name on the board")
    q.add_argument("--description", default=None, help="one line shown on the board")
    q.add_argument("-o", "--output", required=True, help="entry JSON file to write")
    q.add_argument("--envs", nargs="+", default=None, help="env ids (default: all)")
    q.add_argument("--episodes", type=int, default=None, help="default: whole test splits")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--cells", default=None, help="keep finished envs here to resume")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q = lb_sub.add_parser("merge", help="validate entry files and add them to a board")
    q.add_argument("entries", nargs="+", help="entry JSON files")
    q.add_argument("--out", default="leaderboard", help="board folder (default ./leaderboard)")
    q.add_argument("--no-chart", action="store_true", help="skip leaderboard.png")
    q = lb_sub.add_parser("validate", help="check entry files without merging")
    q.add_argument("entries", nargs="+", help="entry JSON files")
    q.add_argument("--episodes", type=int, default=None, help="default: whole test splits")
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("demo", help="the main job on embedded defaults (offline, CPU)")
    p.add_argument("--episodes", type=int, default=100, help="test items to evaluate on")
    p.add_argument("--out", default="runs/demo", help="where models and plots go")
    p.add_argument("--sft-steps", type=int, default=150)
    p.add_argument("--iterations", type=int, default=30, help="PPO iterations")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "no_color", False):
        args.color = "off"
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"textgym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, VectorEnvWorkerDied) as exc:
        # A full disk, a dead vector-env worker: nothing half-written is left behind;
        # training resumes from its last checkpoint with --resume.
        print(f"textgym {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
