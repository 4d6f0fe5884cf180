"""The leaderboard: agents ranked on the fixed test split of every textgym env.

This package is the board itself and knows nothing of agents: the records (cells, entries,
provenance), their validation against the schema and this textgym's test splits, the merge
of submitted entries, and the report. Evaluating agent specs onto a board (``textgym
leaderboard run`` and ``submit``) is the application's job:
:mod:`textgym.app.leaderboard_runner`.
"""

from textgym.leaderboard.board import EnvInfos, load_board, merge_entries
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
    "load_board",
    "load_entry",
    "merge_entries",
    "metrics_from_episodes",
    "provenance",
    "validate_entry",
    "write_board",
]
