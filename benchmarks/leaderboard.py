"""The official leaderboard: every registered env's whole test split, fixed seeds.

    .venv/bin/python benchmarks/leaderboard.py                       # random and oracle
    .venv/bin/python benchmarks/leaderboard.py --agents ppo:runs/demo  # add agents

Behind it is ``textgym leaderboard run`` (textgym/leaderboard/); this script pins the
board's folder, benchmarks/results/leaderboard/, and always keeps the random floor and the
oracle ceiling on it. Finished cells are reused (cells/, not committed), so adding an agent
evaluates only that agent. Submitted entries join with
``textgym leaderboard merge ENTRY.json --out benchmarks/results/leaderboard``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textgym.app.cli import main

OUT = Path(__file__).resolve().parent / "results" / "leaderboard"

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="*", default=[], help="specs beyond random, oracle")
    parser.add_argument("--names", nargs="*", default=None, help="names for --agents")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    agents = ["random", "oracle", *args.agents]
    argv = ["leaderboard", "run", "--agents", *agents, "--out", str(OUT)]
    if args.names:
        argv += ["--names", "random", "oracle", *args.names]
    if args.quiet:
        argv.append("--quiet")
    sys.exit(main(argv))
