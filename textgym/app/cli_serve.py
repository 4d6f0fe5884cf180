"""``textgym serve``: one env as an OpenEnv server (``textgym.integrations.openenv``).

openenv-core is an optional extra (``pip install 'textgym[openenv]'``), and importing it
takes seconds (it loads gradio for its web UI), so this module imports it only when a
server is started: every other ``textgym`` command stays as fast without it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

import gymnasium as gym

from textgym.app.cli_options import add_env_kwargs_option, parse_json_object
from textgym.app.specs import MissingExtraError
from textgym.registration import env_ids

__all__ = ["add_serve_parser", "cmd_serve", "load_openenv_integration"]

INTEGRATION = "textgym.integrations.openenv"
# The packages the extra brings; a missing one means the extra is not installed.
EXTRA_PACKAGES = ("openenv", "fastapi", "uvicorn", "starlette", "websockets")


def load_openenv_integration() -> ModuleType:
    """:mod:`textgym.integrations.openenv`, or :class:`MissingExtraError` saying what to
    install when openenv-core (or a package it brings) is missing."""
    try:
        return importlib.import_module(INTEGRATION)
    except ImportError as exc:
        missing = (getattr(exc, "name", None) or "").split(".")[0]
        if missing not in EXTRA_PACKAGES:
            raise
        raise MissingExtraError(
            f"serving needs openenv-core: pip install 'textgym[openenv]' ({exc})"
        ) from exc


def cmd_serve(args: argparse.Namespace) -> int:
    env_kwargs = parse_json_object(args.env_kwargs)
    if args.env not in gym.registry:
        raise ValueError(
            f"unknown env id {args.env!r}; known ids: {', '.join(env_ids())} (run `textgym list`)"
        )
    if args.max_sessions < 1:
        raise ValueError(f"--max-sessions must be at least 1, got {args.max_sessions}")
    openenv_integration = load_openenv_integration()
    import uvicorn  # comes with openenv-core, present once the import above worked

    app = openenv_integration.make_app(args.env, env_kwargs, max_sessions=args.max_sessions)
    print(
        f"textgym serve: {args.env} on http://{args.host}:{args.port} "
        f"(OpenEnv sessions on /ws, at most {args.max_sessions}; /health, /schema, /docs). "
        "Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def add_serve_parser(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="serve an env as an OpenEnv environment (HTTP/WebSocket)",
        description="Serve one env with openenv-core's server: each WebSocket session (an "
        "OpenEnv client, e.g. textgym.integrations.openenv_client.TextgymClient) gets its "
        'own env. Actions are one turn, {"tokens": [...]} or {"text": "..."}; observations '
        "hold the whole context (tokens, text, agent_mask), info, reward and done. Needs "
        "pip install 'textgym[openenv]'.",
    )
    p.add_argument("--env", required=True, help="environment id, e.g. TextEnv-Calculator-v0")
    add_env_kwargs_option(p, "passed to gym.make for every session's env")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000, help="port to listen on")
    p.add_argument(
        "--max-sessions",
        type=int,
        default=8,
        help="concurrent sessions (each its own env; more are refused until one closes)",
    )
    p.add_argument(
        "--log-level",
        choices=["critical", "error", "warning", "info", "debug"],
        default="info",
        help="uvicorn's log level",
    )
    p.set_defaults(func=cmd_serve, parser=p)
