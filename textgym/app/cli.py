"""The ``textgym`` command: list, play, eval, train, leaderboard, serve and demo.

Each command's parser lives beside its code (``cli_eval``, ``cli_train``,
``cli_leaderboard``, ``cli_serve``); this module assembles them and turns errors into exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import textgym
from textgym.agents.run_folder import RunFolderError
from textgym.agents.train import TrainingInterrupted
from textgym.app.cli_eval import add_eval_parser, add_play_parser
from textgym.app.cli_leaderboard import add_leaderboard_parser
from textgym.app.cli_options import Parser
from textgym.app.cli_serve import add_serve_parser
from textgym.app.cli_train import add_train_parser
from textgym.app.demo import DEFAULTS as DEMO_DEFAULTS
from textgym.app.demo import run_demo
from textgym.multiagent import MULTIAGENT_ENVS
from textgym.registration import ENVS
from textgym.vector import VectorEnvWorkerDied

__all__ = ["main", "build_parser"]


def cmd_list(args: argparse.Namespace) -> int:
    width = max(len(entry.id) for entry in (*ENVS, *MULTIAGENT_ENVS))
    for entry in ENVS:
        print(f"{entry.id:<{width}}  tool={entry.tool:<10}  {entry.summary}")
    print("\nmulti-agent (PettingZoo; textgym.make_multiagent(id)):")
    for ma in MULTIAGENT_ENVS:
        print(f"{ma.id:<{width}}  tool={ma.tool:<10}  [{ma.api}] {ma.summary}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(
        episodes=args.episodes,
        out_dir=args.out,
        sft_steps=args.sft_steps,
        ppo_iterations=args.iterations,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="textgym", description="Tool use by language models as Gymnasium environments."
    )
    parser.add_argument("--version", action="version", version=f"textgym {textgym.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the registered environments")
    p.set_defaults(func=cmd_list, parser=p)
    add_play_parser(sub)
    add_eval_parser(sub)
    add_train_parser(sub)
    add_leaderboard_parser(sub)
    add_serve_parser(sub)

    p = sub.add_parser(
        "demo",
        help="the main job on embedded defaults (offline, CPU)",
        description="Tool discovery on the calculator: SFT on demonstrations that mostly "
        "skip the tool, then PPO, and the test split before and after. A previous demo in "
        "--out is moved aside, not deleted.",
    )
    p.add_argument(
        "--episodes",
        type=int,
        default=DEMO_DEFAULTS["episodes"],
        help="test items to evaluate on",
    )
    p.add_argument("--out", default="runs/demo", help="where models and plots go")
    p.add_argument(
        "--sft-steps", type=int, default=DEMO_DEFAULTS["sft_steps"], help="SFT gradient steps"
    )
    p.add_argument(
        "--iterations", type=int, default=DEMO_DEFAULTS["ppo_iterations"], help="PPO iterations"
    )
    p.set_defaults(func=cmd_demo, parser=p)
    return parser


def _cwd_on_path() -> None:
    # `module:callable` agent specs name modules in the current folder, as `python -m` sees
    # them; a console script's sys.path does not hold the current folder.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The command line as given, for records that say how they were made.
    args.argv = ["textgym", *(sys.argv[1:] if argv is None else argv)]
    if getattr(args, "no_color", False):
        args.color = "off"
    _cwd_on_path()
    try:
        return args.func(args)
    # ImportError: an optional extra is missing; its message says what to install.
    except (
        ValueError, TypeError, FileNotFoundError, FileExistsError, RunFolderError, ImportError
    ) as exc:  # fmt: skip
        print(f"textgym {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, VectorEnvWorkerDied) as exc:
        # A full disk, a dead vector-env worker: nothing half-written is left behind;
        # training resumes from its last checkpoint with --resume.
        print(f"textgym {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except TrainingInterrupted as stop:
        print(f"textgym {args.command}: {stop}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(
            f"textgym {args.command}: interrupted; files already written are whole "
            "(checkpoints, metrics.jsonl, the leaderboard's cells). A training run continues "
            "from its last checkpoint with --resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
