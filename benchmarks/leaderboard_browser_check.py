"""The leaderboard page, checked in a real browser; run before each board update.

    apt-get install -y chromium            # Debian's package; never `playwright install`
    .venv/bin/pip install -e '.[html,browser]'
    .venv/bin/python benchmarks/leaderboard_browser_check.py --regenerate

With ``--regenerate`` it first writes benchmarks/results/leaderboard/site/ (index.html and
entries/) from the committed leaderboard.json (and curves.json). Then it opens the page
from file:// in headless Chromium, blocks any request that is not the page itself, and
fails on: a console error; a number or chart trace that differs from the JSON; a table
cell with a number it cannot trace to the JSON; a header click that does not sort. It
saves the screenshots in benchmarks/results/leaderboard/screenshots/. Last, it plants
one mismatch in a copy of the page (a table number, then a chart bar) and fails unless
the check catches each one. Exit status 0: the page, as committed, says what the JSON
says.

CI (`make test`) does not install Chromium (about a minute of apt on a fresh machine), so
tests/test_leaderboard_html.py checks the page's HTML without a browser there and runs
this browser check only where /usr/bin/chromium exists.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from textgym.leaderboard.html import write_site
from textgym.leaderboard.html_browser import browser_problems
from textgym.leaderboard.html_check import load_docs, plant_mismatch, static_problems

BOARD = Path(__file__).resolve().parent / "results" / "leaderboard"


def _report(label: str, problems: list[str]) -> None:
    print(f"{label}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    for problem in problems[:20]:
        print(f"  - {problem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", type=Path, default=BOARD, help="board folder")
    parser.add_argument("--site", type=Path, default=None, help="default: BOARD/site")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="default: BOARD/screenshots")
    parser.add_argument("--regenerate", action="store_true", help="write the page first")
    parser.add_argument("--no-plant", action="store_true", help="skip the planted mismatches")
    args = parser.parse_args(argv)
    site = args.site or args.board / "site"
    shots = args.screenshots or args.board / "screenshots"
    if args.regenerate:
        page = write_site(args.board, site)
        print(f"wrote {page} ({page.stat().st_size / 1e6:.2f} MB)")
    page = site / "index.html"
    board, curves = load_docs(args.board / "leaderboard.json")
    docs = {"board": board, "curves": curves}
    html = page.read_text()
    failed = False

    problems = static_problems(html, board, curves)
    _report("page HTML vs leaderboard.json", problems)
    failed |= bool(problems)
    start = time.perf_counter()
    problems = browser_problems(page, docs, screenshots=shots)
    _report(f"Chromium render vs leaderboard.json ({time.perf_counter() - start:.1f} s)",
            problems)
    failed |= bool(problems)
    print(f"screenshots: {', '.join(sorted(p.name for p in shots.glob('*.png')))} in {shots}")

    if not args.no_plant:
        for where in ("table", "chart"):
            with tempfile.TemporaryDirectory() as tmp:
                planted = Path(tmp) / "index.html"
                planted.write_text(plant_mismatch(html, where))
                caught = browser_problems(planted, docs)
            ok = len(caught) == 1
            print(f"planted {where} mismatch: {'caught' if ok else 'NOT caught as one problem'}"
                  + (f" ({caught[0]})" if caught else ""))
            failed |= not ok
    print("FAILED" if failed else "passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
