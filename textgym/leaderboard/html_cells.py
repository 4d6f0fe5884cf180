"""Table cells of the leaderboard page: every number tagged with the JSON pointer it was
read from (``data-path``), so the checks in :mod:`textgym.leaderboard.html_check` can
compare the page with the JSON; headers that sort on click.
"""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["digits", "num", "td_num", "td_text", "td_commit", "th", "table"]


def digits(metric: str | None) -> int:
    """Decimals shown, as in leaderboard.md: a mean reward to 4, a rate to 3."""
    return 4 if metric == "mean_reward" else 3


def num(value: Any, path: str, digits: int) -> str:
    """A number shown with ``digits`` decimals, tagged with the pointer it came from."""
    text = f"{value:.{digits}f}" if digits else str(int(value))
    return f'<span class="num" data-path="{escape(path)}">{text}</span>'


def td_num(value: Any, path: str, digits: int) -> str:
    if value is None:
        return '<td class="n">-</td>'
    return f'<td class="n" data-sort-value="{float(value)!r}">{num(value, path, digits)}</td>'


def td_text(text: Any, path: str | None = None) -> str:
    body = escape("" if text is None else str(text))
    attr = f' data-path="{escape(path)}" data-kind="str"' if path and text is not None else ""
    return f"<td{attr}>{body}</td>"


def td_commit(commit: str | None, path: str) -> str:
    """The first 12 hex digits (the whole hash on hover); checked as a prefix."""
    if not commit:
        return "<td>-</td>"
    return (f'<td title="{escape(commit)}" data-sort-value="{escape(commit)}"><code '
            f'data-path="{escape(path)}" data-kind="prefix">{escape(commit[:12])}</code></td>')


def th(label: str, numeric: bool) -> str:
    kind = "num" if numeric else "text"
    return f'<th class="sortable" data-sort="{kind}" title="click to sort">{escape(label)}</th>'


def table(table_id: str, headers: list[tuple[str, bool]], rows: list[str]) -> str:
    head = "".join(th(label, numeric) for label, numeric in headers)
    return (
        f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(f'<tr>{r}</tr>' for r in rows)}</tbody></table>"
    )
