"""Checks that the leaderboard page says what leaderboard.json says.

Two levels. :func:`static_problems` reads the page's HTML as text (no browser): every
``data-path`` element's text against the JSON value it names, every chart trace's arrays
against theirs, sortable headers present, nothing fetched from the network.
:func:`browser_problems` (in html_browser) opens the page in headless Chromium and makes
the same comparisons on what the browser rendered, plus console errors and sorting.

Both return a list of problems (empty: the page passes), so one planted mismatch shows
up as one line naming the pointer, the page's text and the JSON's value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

__all__ = [
    "resolve",
    "compare_text",
    "compare_traces",
    "page_items",
    "static_problems",
    "plant_mismatch",
    "EXTERNAL",
]

#: A reference the page would fetch: an http(s) or protocol-relative URL in src/href/url().
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href|action|poster)\s*=\s*["']?\s*(?:https?:)?//)|(?:url\(\s*["']?\s*"""
    r"""(?:https?:)?//)|(?:@import)""",
    re.IGNORECASE,
)
_VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "source", "wbr"}


def resolve(docs: Mapping[str, Any], path: str) -> Any:
    """The value at a page pointer: ``/a/0/b`` into the board, ``curves:/...`` into the
    curves file; a ``*`` step maps the rest over a list."""
    source, _, ptr = path.rpartition(":") if path.startswith("curves:") else ("", "", path)
    return _walk(docs["curves" if source else "board"], ptr.split("/")[1:])


def _walk(node: Any, steps: list[str]) -> Any:
    for n, step in enumerate(steps):
        step = step.replace("~1", "/").replace("~0", "~")
        if step == "*":
            return [_walk(item, steps[n + 1:]) for item in node]
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node


def compare_text(text: str, value: Any, kind: str | None) -> bool:
    """Does the page's ``text`` show ``value``? A number shown with d decimals must be
    within half a unit of its d-th decimal; strings and JSON must be equal."""
    if kind == "str":
        return text == str(value)
    if kind == "prefix":  # a commit hash shortened to its first digits
        return len(text) >= 7 and str(value).startswith(text)
    if kind == "json":
        return text == json.dumps(value)
    try:
        shown = float(text)
    except ValueError:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(shown - value) <= 0.5 * 10.0**-decimals + 1e-9


def _same(a: Sequence[Any], b: Sequence[Any]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            if not math.isclose(float(x), float(y), rel_tol=1e-12, abs_tol=1e-12):
                return False
        elif x != y:
            return False
    return True


def compare_traces(figures: Sequence[Mapping[str, Any]], docs: Mapping[str, Any]) -> list[str]:
    """Each trace's ``x``/``y`` against the JSON its ``meta.paths`` name. A pointer list
    gives one value per point; one pointer gives the whole array."""
    problems = []
    for fig in figures:
        for n, trace in enumerate(fig.get("data") or ()):
            paths = ((trace.get("meta") or {}).get("paths")) or {}
            if not paths:
                problems.append(f"{fig.get('id')} trace {n}: no meta.paths to check against")
            for axis, path in paths.items():
                try:
                    want = [resolve(docs, p) for p in path] if isinstance(path, list) else (
                        resolve(docs, path))
                except (KeyError, IndexError, ValueError, TypeError) as exc:
                    problems.append(f"{fig.get('id')} trace {n}: {path} not in the JSON ({exc})")
                    continue
                if not _same(list(trace.get(axis) or ()), list(want)):
                    problems.append(
                        f"{fig.get('id')} trace {n} ({trace.get('name')}): {axis} differs "
                        f"from {path if isinstance(path, str) else path[0] + ' ...'}"
                    )
    return problems


def compare_items(items: Sequence[Mapping[str, Any]], docs: Mapping[str, Any]) -> list[str]:
    """``items``: {path, kind, text} of every tagged element on the page."""
    problems = []
    for item in items:
        try:
            value = resolve(docs, item["path"])
        except (KeyError, IndexError, ValueError, TypeError):
            problems.append(f"{item['path']}: shown as {item['text']!r} but not in the JSON")
            continue
        if not compare_text(item["text"], value, item.get("kind")):
            problems.append(f"{item['path']}: page shows {item['text']!r}, JSON has {value!r}")
    return problems


class _Items(HTMLParser):
    """Collects the text of every ``data-path`` element, and table cells that show a
    digit with no pointer inside (a number the checks could not trace)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[dict[str, Any]] = []
        self.items: list[dict[str, Any]] = []
        self.untraced: list[str] = []
        self.scripts: dict[str, str] = {}
        self.sortable = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "th" and "sortable" in (a.get("class") or "") and a.get("data-sort"):
            self.sortable += 1
        if tag in _VOID:
            return
        self.stack.append({"tag": tag, "attrs": a, "text": [], "traced": False})

    def handle_endtag(self, tag):
        if tag in _VOID or not self.stack:
            return
        el = self.stack.pop()
        text = "".join(el["text"]).strip()
        if el["tag"] == "script" and el["attrs"].get("id"):
            self.scripts[el["attrs"]["id"]] = text
        if "data-path" in el["attrs"]:
            self.items.append({"path": el["attrs"]["data-path"], "text": text,
                               "kind": el["attrs"].get("data-kind")})
            for parent in self.stack:
                parent["traced"] = True
        elif el["tag"] == "td" and re.search(r"\d", text) and not el["traced"] and (
                "data-derived" not in el["attrs"]):
            self.untraced.append(text)
        if self.stack:
            self.stack[-1]["text"].append(text if el["tag"] != "script" else "")
            self.stack[-1]["traced"] |= el["traced"]

    def handle_data(self, data):
        if self.stack:
            self.stack[-1]["text"].append(data)


def page_items(html: str) -> _Items:
    parser = _Items()
    parser.feed(html)
    parser.close()
    return parser


def static_problems(
    html: str, board: Mapping[str, Any], curves: Mapping[str, Any] | None = None
) -> list[str]:
    """Everything that can be checked without a browser (see the module docstring)."""
    parsed = page_items(html)
    embedded = json.loads(parsed.scripts.get("curves-data") or '{"curves": []}')
    docs = {"board": board, "curves": curves if curves is not None else embedded}
    problems = compare_items(parsed.items, docs)
    problems += [f"a table cell shows {t!r} with no data-path to check" for t in parsed.untraced]
    figures = json.loads(parsed.scripts.get("figures") or "[]")
    problems += compare_traces(figures, docs)
    if not parsed.items:
        problems.append("no tagged numbers on the page")
    if not parsed.sortable:
        problems.append("no sortable table headers")
    outside = [m.group(0) for m in EXTERNAL.finditer(html)]
    problems += [f"external reference: {ref!r}" for ref in outside]
    return problems


def plant_mismatch(html: str, where: str = "table") -> str:
    """The page with one number changed: the first number in a table (``table``: three
    units in its last digit) or the first bar of the first chart (``chart``: +0.25); the
    checks must then fail."""
    if where == "table":
        match = re.search(r'(<span class="num" data-path="[^"]+">)(-?\d+(?:\.(\d+))?)<', html)
        if match is None:
            raise ValueError("no number to change on this page")
        decimals = len(match.group(3) or "")
        # Three units in the last shown digit: small, but past the half-unit rounding.
        changed = f"{float(match.group(2)) + 3 * 10.0**-decimals:.{decimals}f}"
        return html[: match.start(2)] + changed + html[match.end(2):]
    start = html.index('id="figures">') + len('id="figures">')
    end = html.index("</script>", start)
    figures = json.loads(html[start:end])
    trace = next(t for f in figures for t in f["data"] if t.get("y"))
    trace["y"][0] = trace["y"][0] + 0.25
    return html[:start] + json.dumps(figures, separators=(",", ":")) + html[end:]


def load_docs(board_json: str | Path, curves_json: str | Path | None = None):
    board = json.loads(Path(board_json).read_text())
    if curves_json is None and (Path(board_json).parent / "curves.json").is_file():
        curves_json = Path(board_json).parent / "curves.json"
    curves = json.loads(Path(curves_json).read_text()) if curves_json else None
    return board, curves
