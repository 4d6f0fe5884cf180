"""The long fuzzing run: tests/test_fuzz.py with many more Hypothesis examples.

    .venv/bin/python benchmarks/fuzz_long.py --examples 500

Writes benchmarks/results/fuzz.md: examples per test, tests, outcome, minutes, date.
CI runs the same tests with 40 examples each.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "fuzz.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    args = parser.parse_args()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_fuzz.py"],
        cwd=ROOT,
        env={**os.environ, "TEXTGYM_FUZZ_EXAMPLES": str(args.examples)},
        capture_output=True,
        text=True,
    )
    minutes = (time.perf_counter() - start) / 60
    summary = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", summary)) else 0
    OUT.write_text(
        "# Long fuzzing run\n\n"
        f"`TEXTGYM_FUZZ_EXAMPLES={args.examples} pytest tests/test_fuzz.py` "
        f"({time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} CPUs): "
        f"{args.examples} Hypothesis examples for each of {passed} tests (step() of every "
        "env with arbitrary actions, every tool with arbitrary strings), "
        f"{args.examples * passed} examples in all, {minutes:.1f} minutes.\n\n"
        f"Outcome: `{summary}` (exit code {proc.returncode}).\n"
    )
    print(OUT.read_text())
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
