"""The leaderboard page in a real browser: headless Chromium (Debian's package), driven by
Playwright's Python client (the ``[browser]`` extra; never ``playwright install``, which
downloads browsers).

:func:`browser_problems` opens the page from file://, blocks and reports every request
that is not the page itself (so a CDN link fails the check even where the network is
open), waits for the charts, and then compares what Chromium rendered with the JSON:
every tagged number, every drawn trace, console errors, and that clicking a header
re-orders rows. It can also take the screenshots kept with the board.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from textgym.leaderboard.html_check import compare_items, compare_traces

__all__ = ["CHROMIUM", "CHROMIUM_FLAGS", "chromium_path", "browser_problems"]

CHROMIUM = "/usr/bin/chromium"
#: Quiet in a closed network: no background fetches, updates, sync or QUIC probes.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

#: Collected in the page: tagged elements, table cells with digits and no tag, and the
#: traces plotly actually holds after drawing.
_COLLECT = """() => {
  const items = [...document.querySelectorAll('[data-path]')].map(el => ({
    path: el.getAttribute('data-path'), kind: el.getAttribute('data-kind'),
    text: el.textContent.trim()}));
  const untraced = [...document.querySelectorAll('td')].filter(td =>
    /\\d/.test(td.textContent) && !td.hasAttribute('data-path') &&
    !td.hasAttribute('data-derived') && !td.querySelector('[data-path]'))
    .map(td => td.textContent.trim());
  const figures = [...document.querySelectorAll('.chart')].map(div => ({
    id: div.id, drawn: !!div.querySelector('.main-svg'),
    data: (div.data || []).map(t => ({name: t.name, x: t.x, y: t.y, meta: t.meta}))}));
  return {items, untraced, figures};
}"""

_ORDER = """(table) => [...table.tBodies[0].rows].map(r => r.cells[0].textContent.trim())"""
_COLUMN = """([table, col]) => [...table.tBodies[0].rows].map(r =>
  r.cells[col].getAttribute('data-sort-value'))"""


def chromium_path() -> str | None:
    """Debian's chromium, if installed."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    return found


def _sorting_problems(page) -> tuple[list[str], int]:
    """Click the first numeric header of each table whose rows differ there; the rows
    must come out ordered by it, reversed on a second click, and the order must change
    at least once on the page. Returns the problems and the number of tables sorted."""
    problems, changed, sorted_tables = [], 0, 0
    for table in page.query_selector_all("table.sortable"):
        headers = table.query_selector_all("th[data-sort=num]")
        ths = table.query_selector_all("th")
        for th in headers:
            col = ths.index(th) if th in ths else [h.inner_text() for h in ths].index(
                th.inner_text())
            values = page.evaluate(_COLUMN, [table, col])
            numbers = [float(v) for v in values if v is not None]
            if len(set(numbers)) < 2:
                continue
            before = page.evaluate(_ORDER, table)
            th.click()
            up = [float(v) for v in page.evaluate(_COLUMN, [table, col]) if v is not None]
            th.click()
            down = [float(v) for v in page.evaluate(_COLUMN, [table, col]) if v is not None]
            name = table.get_attribute("id")
            if up != sorted(up):
                problems.append(f"{name}: first click did not sort ascending: {up}")
            if down != sorted(down, reverse=True):
                problems.append(f"{name}: second click did not sort descending: {down}")
            changed += page.evaluate(_ORDER, table) != before or up != down
            sorted_tables += 1
            break
    if sorted_tables and not changed:
        problems.append("sorting never changed the order of any table")
    if not sorted_tables:
        problems.append("no table has a numeric column with two different values to sort")
    return problems, sorted_tables


def browser_problems(
    page_path: str | Path,
    docs: Mapping[str, Any],
    *,
    screenshots: str | Path | None = None,
    timeout_s: float = 90.0,
) -> list[str]:
    """Open ``page_path`` in headless Chromium and return what does not match ``docs``
    (``{"board": ..., "curves": ...}``) or does not work; screenshots go to
    ``screenshots`` when given."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ImportError(
            "the browser check drives Chromium with Playwright: pip install 'textgym[browser]' "
            "(and apt-get install chromium; never `playwright install`)"
        ) from None
    exe = chromium_path()
    if exe is None:
        raise FileNotFoundError(f"no chromium at {CHROMIUM}: apt-get install -y chromium")
    url = Path(page_path).resolve().as_uri()
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: m.type == "error" and problems.append(
                f"console error: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

            def route(r):
                if r.request.url.split("#")[0] == url or r.request.url.startswith(
                        ("data:", "blob:")):
                    return r.continue_()
                problems.append(f"the page requested {r.request.url}")
                return r.abort()

            page.route("**/*", route)
            page.goto(url, wait_until="load", timeout=timeout_s * 1000)
            page.wait_for_function("window.textgymReady === true", timeout=timeout_s * 1000)
            got = page.evaluate(_COLLECT)
            problems += compare_items(got["items"], docs)
            problems += [f"a table cell shows {t!r} with no data-path" for t in got["untraced"]]
            problems += [f"{f['id']}: not drawn" for f in got["figures"] if not f["drawn"]]
            problems += compare_traces(got["figures"], docs)
            if not got["items"]:
                problems.append("no tagged numbers rendered")
            if screenshots is not None:
                _screenshots(page, Path(screenshots))
            sort_problems, _ = _sorting_problems(page)
            problems += sort_problems
            if screenshots is not None:
                page.locator("table.sortable").first.screenshot(
                    path=str(Path(screenshots) / "sorted.png"))
        finally:
            browser.close()
    return problems


def _screenshots(page, out: Path) -> None:
    """top.png (the first screen), env.png (the first env: tables and charts), curves.png
    (learning curves and provenance)."""
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out / "top.png"))
    for selector, name in (("h2[id^=env-]", "env.png"), ("#curves", "curves.png")):
        if page.locator(selector).count():
            page.locator(selector).first.evaluate("el => el.scrollIntoView({block: 'start'})")
            page.screenshot(path=str(out / name))
    page.evaluate("window.scrollTo(0, 0)")
