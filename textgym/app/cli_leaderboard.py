"""``textgym leaderboard run|submit|merge|validate``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym

from textgym import leaderboard as lb
from textgym.app import leaderboard_runner as runner
from textgym.app.cli_eval import make_env
from textgym.app.cli_options import (
    add_base_url_option,
    add_env_kwargs_option,
    parse_json_object,
)
from textgym.app.specs import SPEC_HELP
from textgym.fileio import atomic_write_text
from textgym.leaderboard.html import write_site
from textgym.leaderboard.html_charts import record_curve
from textgym.leaderboard.report import headline_table, ranking_table
from textgym.registration import env_ids, missing_extra

ENV_KWARGS_NOTE = "for every env evaluated; recorded, and the split hash covers them"
NO_TIERS_HELP = "score each env's default config only, not its difficulty tiers"

__all__ = ["add_leaderboard_parser"]


def _ids(envs: Sequence[str] | None) -> list[str]:
    """The envs asked for, or every registered env whose extra is installed (the others
    are named on stderr, with what to install)."""
    for env_id in envs or ():
        if env_id not in gym.registry:
            make_env(env_id)  # raises the unknown-id error
        if (hint := missing_extra(env_id)) is not None:
            raise ValueError(hint)
    if envs:
        return list(envs)
    for env_id in env_ids():
        if (hint := missing_extra(env_id)) is not None:
            print(f"textgym leaderboard: skipping {hint}", file=sys.stderr)
    return env_ids(installed_only=True)


def cmd_html(args: argparse.Namespace):
    """``html``: record any ``--curve`` in the board's curves.json (refused when the run's
    model is not the one the entry evaluated), then write the page."""
    for spec in args.curve:
        agent, sep, path = spec.partition("=")
        if not sep or not agent or not path:
            raise ValueError(f"--curve takes AGENT=METRICS_JSONL, got {spec!r}")
        # The run folder holding metrics.jsonl is the model the curve trained.
        try:
            fingerprint = runner.agent_fingerprint(f"ppo:{Path(path).parent}")
        except (FileNotFoundError, ValueError):  # a metrics file without its model
            fingerprint = None
        record_curve(args.board, agent, path, fingerprint=fingerprint)
    return write_site(args.board, args.out, curves_path=args.curves)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    if args.action == "run":
        board = runner.run_board(
            args.agents,
            args.out,
            env_ids=_ids(args.envs),
            episodes=args.episodes,
            seed=args.seed,
            names=args.names,
            progress=not args.quiet,
            chart=not args.no_chart,
            env_kwargs=parse_json_object(args.env_kwargs),
            base_url=args.base_url,
            tiers=not args.no_tiers,
        )
        print("\n".join([*ranking_table(board), "", *headline_table(board)]))
        print(
            f"\nwrote {args.out}/leaderboard.json, leaderboard.md"
            + ("" if args.no_chart else ", leaderboard.png")
        )
        return 0
    if args.action == "submit":
        entry = runner.evaluate_agent(
            args.agent,
            _ids(args.envs),
            name=args.name,
            episodes=args.episodes,
            seed=args.seed,
            cells_dir=args.cells,
            progress=not args.quiet,
            description=args.description,
            env_kwargs=parse_json_object(args.env_kwargs),
            base_url=args.base_url,
            tiers=not args.no_tiers,
            command=shlex.join(args.argv),
            trained_by=args.trained_by,
        )
        lb.validate_entry(
            entry,
            episodes=args.episodes,
            env_infos=lb.EnvInfos(parse_json_object(args.env_kwargs), tiers=not args.no_tiers),
        )
        atomic_write_text(args.output, json.dumps(entry, indent=1) + "\n")
        for cell in entry["results"]:
            tier = f" [{cell['tier']}]" if "tier" in cell else ""
            print(f"{cell['env']}{tier}: {cell['metric']} {cell['metrics'][cell['metric']]:.4f}")
        print(f"wrote {args.output}; merge it with `textgym leaderboard merge {args.output}`")
        return 0
    if args.action == "html":
        page = cmd_html(args)
        print(f"wrote {page} and its entries/; open it from file://, no server needed")
        return 0
    if args.action == "merge":
        _, names = lb.merge_entries(
            args.entries,
            args.out,
            chart=not args.no_chart,
            env_kwargs=parse_json_object(args.env_kwargs),
            tiers=not args.no_tiers,
        )
        print(f"merged {', '.join(names)} into {args.out}/leaderboard.json")
        return 0
    for path in args.entries:  # validate
        entry = lb.load_entry(
            path,
            episodes=args.episodes,
            env_infos=lb.EnvInfos(parse_json_object(args.env_kwargs)),
        )
        print(f"{path}: valid entry for {entry['agent']['name']!r} ({len(entry['results'])} envs)")
    return 0


def add_leaderboard_parser(sub) -> None:
    p = sub.add_parser("leaderboard", help="rank agents on every env's fixed test split")
    lb_sub = p.add_subparsers(
        dest="action", required=True, metavar="{run,submit,merge,validate,html}"
    )
    q = lb_sub.add_parser("run", help="evaluate agent specs and write the board (resumable)")
    q.add_argument("--agents", nargs="+", default=["random", "oracle"], help=SPEC_HELP)
    q.add_argument("--names", nargs="+", default=None, help="display names, one per agent")
    q.add_argument("--out", default="leaderboard", help="board folder")
    q.add_argument("--envs", nargs="+", default=None, help="env ids (default: all)")
    add_env_kwargs_option(q, ENV_KWARGS_NOTE)
    q.add_argument("--episodes", type=int, default=None, help="default: whole test splits")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--no-chart", action="store_true", help="skip leaderboard.png")
    q.add_argument("--no-tiers", action="store_true", help=NO_TIERS_HELP)
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    add_base_url_option(q)
    q.set_defaults(parser=q)
    q = lb_sub.add_parser("submit", help="evaluate one agent into an entry file to merge")
    q.add_argument("--agent", required=True, help=SPEC_HELP)
    q.add_argument("--name", required=True, help="the agent's name on the board")
    q.add_argument("--description", default=None, help="one line shown on the board")
    q.add_argument(
        "--trained-by",
        default=None,
        metavar="COMMAND",
        help="the command line that trains the agent's model, kept in the entry's provenance "
        "with the settings its run.json recorded",
    )
    q.add_argument("-o", "--output", required=True, help="entry JSON file to write")
    q.add_argument("--envs", nargs="+", default=None, help="env ids (default: all)")
    add_env_kwargs_option(q, ENV_KWARGS_NOTE)
    q.add_argument("--episodes", type=int, default=None, help="default: whole test splits")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--cells", default=None, help="keep finished envs here to resume")
    q.add_argument("--no-tiers", action="store_true", help=NO_TIERS_HELP)
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    add_base_url_option(q)
    q.set_defaults(parser=q)
    q = lb_sub.add_parser("merge", help="validate entry files and add them to a board")
    q.add_argument("entries", nargs="+", help="entry JSON files")
    q.add_argument("--out", default="leaderboard", help="board folder")
    add_env_kwargs_option(q, ENV_KWARGS_NOTE)
    q.add_argument("--no-chart", action="store_true", help="skip leaderboard.png")
    q.add_argument("--no-tiers", action="store_true", help="a new board: " + NO_TIERS_HELP)
    q.set_defaults(parser=q)
    q = lb_sub.add_parser("validate", help="check entry files without merging")
    q.add_argument("entries", nargs="+", help="entry JSON files")
    add_env_kwargs_option(q, ENV_KWARGS_NOTE)
    q.add_argument("--episodes", type=int, default=None, help="default: whole test splits")
    q.set_defaults(parser=q)
    q = lb_sub.add_parser("html", help="write the board as a static page (index.html)")
    q.add_argument("--board", default="leaderboard", help="board folder or leaderboard.json")
    q.add_argument("--out", required=True, help="folder for index.html and entries/")
    q.add_argument("--curves", default=None, help="curves JSON (default: BOARD/curves.json)")
    q.add_argument(
        "--curve",
        nargs="+",
        default=[],
        metavar="AGENT=METRICS_JSONL",
        help="record a trained agent's curve from its run's metrics.jsonl in BOARD/curves.json",
    )
    q.set_defaults(parser=q)
    p.set_defaults(func=cmd_leaderboard)
