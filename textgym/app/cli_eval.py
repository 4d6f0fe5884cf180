"""``textgym eval`` and ``textgym play``: single-agent envs by agent spec, multi-agent envs
by seat specs, with ``--env-kwargs`` for the env the agent was trained on."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

import textgym
from textgym.agents.devices import DEVICE_CHOICES, DTYPE_CHOICES, resolve_device, resolve_dtype
from textgym.agents.policy_agent import PolicyAgent
from textgym.app.cli_options import (
    add_base_url_option,
    add_env_kwargs_option,
    parse_json_object,
)
from textgym.app.specs import SPEC_HELP, make_agent
from textgym.multiagent import multiagent_ids
from textgym.multiagent_runs import evaluate_multiagent, play_multiagent
from textgym.registration import env_ids
from textgym.rollout import Episode, episode_record

ENV_KWARGS_NOTE = "use the ones the agent was trained with"

__all__ = ["add_eval_parser", "add_play_parser", "make_env"]


def make_env(env_id: str, env_kwargs: dict | None = None) -> gym.Env:
    if env_id not in gym.registry:
        raise ValueError(
            f"unknown env id {env_id!r}; known ids: {', '.join(env_ids() + multiagent_ids())} "
            "(run `textgym list`)"
        )
    return gym.make(env_id, **(env_kwargs or {}))


def _jsonable(value):
    """Token arrays and numpy scalars as JSON lists and numbers."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return str(value)


class _EpisodeFile:
    """Episodes streamed to ``FILE.partial`` as they finish and renamed to ``FILE`` at the
    end, so an interrupted eval leaves its episodes so far and never a torn ``FILE``."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(
                f"--save-episodes {self.path} exists; choose another file name or move it"
            )
        self.partial = self.path.with_name(self.path.name + ".partial")
        try:
            self.handle = self.partial.open("w")
        except OSError as exc:
            raise OSError(f"--save-episodes {self.path}: {exc.strerror or exc}") from None

    def write(self, record: dict) -> None:
        self.handle.write(json.dumps(record, default=_jsonable) + "\n")
        self.handle.flush()

    def finish(self) -> None:
        self.handle.close()
        os.replace(self.partial, self.path)


def cmd_eval(args: argparse.Namespace) -> int:
    env_kwargs = parse_json_object(args.env_kwargs)
    if args.env in multiagent_ids():
        return _eval_multiagent(args, env_kwargs)
    if args.seats is not None:
        raise ValueError("--seats is for multi-agent envs; single-agent envs take --agent")
    if args.agent is None:
        raise ValueError(f"--agent is required for a single-agent env: {SPEC_HELP}")
    # Checked before anything is built: a bad --device/--dtype fails fast and clearly.
    resolve_dtype(args.dtype, resolve_device(args.device))
    env = make_env(args.env, env_kwargs)
    agent = make_agent(args.agent, env, seed=args.seed, base_url=args.base_url)
    if isinstance(agent, PolicyAgent):
        agent.to(args.device, args.dtype)
    elif (args.device, args.dtype) != ("cpu", "float32"):
        raise ValueError("--device and --dtype apply to ppo: agents only")
    tokenizer = getattr(env.unwrapped, "tokenizer", None)
    colour = sys.stdout.isatty()
    shown = 0
    out = _EpisodeFile(args.save_episodes) if args.save_episodes else None

    def on_episode(episode: Episode) -> None:
        nonlocal shown
        if shown < args.show:
            shown += 1
            status = "success" if episode.success else "failed"
            print(
                f"\n--- episode {episode.index} (seed {episode.seed}): reward "
                f"{episode.reward:g}, {status} ---"
            )
            print(
                env.unwrapped.transcript(colour=colour)
                if hasattr(env.unwrapped, "transcript")
                else episode_record(episode, tokenizer).get("text", "")
            )
        if out is not None:
            out.write(episode_record(episode, tokenizer))

    result = textgym.evaluate(
        env,
        agent,
        split=args.split,
        episodes=args.episodes,
        seed=args.seed,
        progress=not args.quiet and not args.show,
        env_id=args.env,
        on_episode=on_episode,
    )
    env.close()
    if out is not None:
        out.finish()
    summary = {"agent": args.agent, "env_kwargs": env_kwargs or {}, **result.summary()}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{args.agent} on {args.env} ({result.split}, {result.n} episodes): "
            f"success {result.success_rate:.1%}, mean reward {result.mean_reward:.3f}, "
            f"tool calls/episode {result.mean_tool_calls:.2f}"
        )
    if out is not None:
        print(f"wrote {result.n} episodes to {out.path}", file=sys.stderr)
    return 0


def _eval_multiagent(args: argparse.Namespace, env_kwargs: dict | None) -> int:
    if args.agent is not None:
        raise ValueError(
            f"{args.env} is a multi-agent env: give --seats (one spec per seat, e.g. "
            "`--seats scripted random`) instead of --agent"
        )
    if args.split != "test":
        raise ValueError("multi-agent envs are evaluated on their test split only")
    out = _EpisodeFile(args.save_episodes) if args.save_episodes else None
    shown = 0

    def on_game(game) -> None:
        nonlocal shown
        if shown < args.show:
            shown += 1
            print(f"\n--- game {game.index} (seed {game.seed}): rewards {game.rewards} ---")
            for seat, outcome in game.seats.items():
                print(f"[{seat}]\n{outcome.text}")
        if out is not None:
            out.write(dataclasses.asdict(game))

    result = evaluate_multiagent(
        args.env,
        args.seats or "scripted",
        games=args.episodes,
        seed=args.seed,
        env_kwargs=env_kwargs,
        progress=not args.quiet and not args.show,
        on_game=on_game,
    )
    if out is not None:
        out.finish()
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        rewards = ", ".join(f"{s} {r:.3f}" for s, r in summary["mean_reward"].items())
        print(
            f"{args.env} ({summary['games']} test games, seats {summary['seats']}): "
            f"mean reward {rewards}"
        )
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    env_kwargs = parse_json_object(args.env_kwargs)
    colour = args.color == "on" or (args.color == "auto" and sys.stdout.isatty())
    if args.env in multiagent_ids():
        return _play_multiagent(args, env_kwargs, colour)
    env = make_env(args.env, env_kwargs)
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
        print(base.transcript(colour=colour))
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
            print(base.transcript(colour=colour))
        status = "success" if info.get("success") else ("truncated" if truncated else "failed")
        print(f"\nepisode over: reward {reward:g} ({status})\n")
        seed = None if seed is None else seed + 1
        options.pop("index", None)


def _play_multiagent(args: argparse.Namespace, env_kwargs: dict | None, colour: bool) -> int:
    seat = args.seat
    if seat is None:
        seat = textgym.make_multiagent(args.env, **(env_kwargs or {})).possible_agents[0]
    return play_multiagent(
        args.env, seat, args.seats or "scripted", seed=args.seed, env_kwargs=env_kwargs
    )


def add_eval_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate an agent on an env's fixed test split",
        description="Evaluate an agent on an env's test split (episode i: item i, seed "
        "SEED + i). Multi-agent envs take one --seats spec per seat instead of --agent.",
    )
    p.add_argument("--agent", default=None, help=f"single-agent envs (required): {SPEC_HELP}")
    p.add_argument("--env", required=True, help="environment id (single- or multi-agent)")
    add_env_kwargs_option(p, ENV_KWARGS_NOTE)
    p.add_argument(
        "--seats",
        nargs="+",
        default=None,
        help="multi-agent envs: who plays each seat, in seat order, e.g. `scripted random` "
        "(one spec for every seat is allowed)",
    )
    p.add_argument("--episodes", type=int, default=None, help="default: the whole test split")
    p.add_argument("--split", choices=textgym.SPLITS, default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device",
        default="cpu",
        help=f"ppo: agents: where the model runs, one of {', '.join(DEVICE_CHOICES)}",
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=list(DTYPE_CHOICES),
        help="ppo: agents: forward-pass precision (float16: GPUs only)",
    )
    add_base_url_option(p)
    p.add_argument(
        "--show",
        type=int,
        default=0,
        metavar="N",
        help="print the transcripts of the first N episodes",
    )
    p.add_argument(
        "--save-episodes",
        default=None,
        metavar="FILE.jsonl",
        help="write every episode (text, tokens, agent mask, rewards, tool calls) as JSONL",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval, parser=p)


def add_play_parser(sub) -> None:
    p = sub.add_parser(
        "play",
        help="play an env yourself in the terminal",
        description="Play an env in the terminal, one turn per line. In a multi-agent env "
        "you take --seat and the other seats are played by --seats.",
    )
    p.add_argument("env", help="environment id, e.g. TextEnv-Calculator-v0")
    add_env_kwargs_option(p, ENV_KWARGS_NOTE)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--split", choices=textgym.SPLITS, default="train")
    p.add_argument("--index", type=int, default=None, help="item index within the split")
    p.add_argument("--seat", default=None, help="multi-agent envs: your seat (default the first)")
    p.add_argument(
        "--seats",
        nargs="+",
        default=None,
        help="multi-agent envs: who plays the other seats (default scripted)",
    )
    p.add_argument("--color", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--no-color", action="store_true", help="same as --color off")
    p.set_defaults(func=cmd_play, parser=p)
