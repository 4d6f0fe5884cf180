"""The leaderboard: agents ranked on the fixed test split of every textgym env.

This package is the board itself and knows nothing of agents: the records (cells, entries,
provenance), the difficulty tiers each env is scored on besides its default config
(:mod:`~textgym.leaderboard.tiers`), their validation against the schema and this
textgym's test splits, the merge of submitted entries, the intervals and tie-aware ranks
(:mod:`~textgym.leaderboard.stats`, :mod:`~textgym.leaderboard.standings`), and the
report. Evaluating agent specs onto a board (``textgym
leaderboard run`` and ``submit``) is the application's job:
:mod:`textgym.app.leaderboard_runner`.
"""

from textgym.leaderboard.board import load_board, merge_entries
from textgym.leaderboard.records import (
    BOARD_SCHEMA,
    ENTRY_SCHEMA,
    ENTRY_SCHEMAS,
    METRICS,
    env_info,
    metrics_from_episodes,
    provenance,
)
from textgym.leaderboard.report import board_markdown, write_board
from textgym.leaderboard.standings import compute_standings
from textgym.leaderboard.stats import bootstrap_mean, shared_ranks, wilson
from textgym.leaderboard.tiers import CONTINUITY, EnvInfos
from textgym.leaderboard.validate import InvalidEntry, entry_schema, load_entry, validate_entry

__all__ = [
    "BOARD_SCHEMA",
    "CONTINUITY",
    "ENTRY_SCHEMA",
    "ENTRY_SCHEMAS",
    "EnvInfos",
    "METRICS",
    "InvalidEntry",
    "board_markdown",
    "bootstrap_mean",
    "compute_standings",
    "entry_schema",
    "env_info",
    "load_board",
    "load_entry",
    "merge_entries",
    "metrics_from_episodes",
    "provenance",
    "shared_ranks",
    "validate_entry",
    "wilson",
    "write_board",
]
