"""The leaderboard: agents ranked on the fixed test split of every textgym env.

``textgym leaderboard run`` evaluates agent specs (see :mod:`textgym.specs`) and writes
``leaderboard.json``, ``leaderboard.md`` and ``leaderboard.png``; ``submit`` evaluates one
third-party agent into an entry file (the submission format, ``entry.schema.json``);
``merge`` validates entries against the schema and this textgym's test splits and adds them.
"""

from textgym.leaderboard.board import EnvInfos, evaluate_agent, load_board, merge_entries, run_board
from textgym.leaderboard.records import (
    BOARD_SCHEMA,
    ENTRY_SCHEMA,
    METRICS,
    env_info,
    metrics_from_episodes,
    provenance,
)
from textgym.leaderboard.report import board_markdown, write_board
from textgym.leaderboard.validate import InvalidEntry, entry_schema, load_entry, validate_entry

__all__ = [
    "BOARD_SCHEMA",
    "ENTRY_SCHEMA",
    "EnvInfos",
    "METRICS",
    "InvalidEntry",
    "board_markdown",
    "entry_schema",
    "env_info",
    "evaluate_agent",
    "load_board",
    "load_entry",
    "merge_entries",
    "metrics_from_episodes",
    "provenance",
    "run_board",
    "validate_entry",
    "write_board",
]
