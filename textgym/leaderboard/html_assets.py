"""The static page's own CSS and JavaScript, and the inlined plotly.js bundle.

They live here as strings rather than as package-data files so the page generator needs
no packaging changes and the page is one self-contained file. The JavaScript does three
things only: sort a table when its header is clicked, unpack the inlined plotly bundle,
and draw the figures whose specs the Python side embedded (every number in a chart comes
from there, so the checks can compare it with leaderboard.json).
"""

from __future__ import annotations

import base64
import gzip

__all__ = ["CSS", "JS", "CSP", "plotly_bundle_b64"]

#: Nothing may load from anywhere: the page is one file, opened from file://. The
#: inline scripts (and plotly's own styles) need 'unsafe-inline'; plotly.js compiles a
#: few expressions with Function(), hence 'unsafe-eval'.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:"
)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;
  max-width:1200px;padding:0 1rem 3rem;color:#1b1f24;background:#fff}
h1{margin:1.2rem 0 .3rem}h2{margin-top:2.2rem;border-bottom:1px solid #d0d7de}
h3{margin:1.4rem 0 .4rem;font-size:1.05rem}
nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th.sortable{cursor:pointer;user-select:none;background:#f6f8fa}
th.sortable:hover{background:#eaeef2}
th[aria-sort=ascending]::after{content:" \\25B2"}
th[aria-sort=descending]::after{content:" \\25BC"}
.muted{color:#57606a;font-size:.85rem}
.chart{width:100%;height:360px}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
code{font-size:.85rem;word-break:break-all}
#provenance-table{font-size:.8rem}
#provenance-table td:nth-child(6){min-width:13rem}
#provenance-table td:nth-child(9){min-width:20rem}
#provenance-table td:nth-child(4) code{white-space:nowrap}
"""

JS = r"""
(function () {
  "use strict";
  function key(cell, numeric) {
    var v = cell.getAttribute("data-sort-value");
    if (v === null) v = cell.textContent.trim();
    if (!numeric) return v.toLowerCase();
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-sort") === "num";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.children, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], numeric), y = key(b.cells[col], numeric);
      if (x === y) return 0;
      if (x === null) return 1;   // missing cells sort last either way
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (asc ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("th.sortable").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
  });

  function draw() {
    var specs = JSON.parse(document.getElementById("figures").textContent);
    specs.forEach(function (s) {
      Plotly.newPlot(s.id, s.data, s.layout, {displaylogo: false, responsive: true,
                                               staticPlot: false});
    });
    window.textgymReady = true;
  }
  function unpack() {
    var b64 = document.getElementById("plotly-gz").textContent.trim();
    var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(function (code) {
      var s = document.createElement("script");
      s.textContent = code;
      document.head.appendChild(s);
    });
  }
  if (typeof DecompressionStream === "undefined") {
    document.querySelectorAll(".chart").forEach(function (d) {
      d.textContent = "charts need a browser with DecompressionStream (2023 or later)";
    });
    window.textgymReady = true;
    return;
  }
  unpack().then(draw).catch(function (e) {
    console.error("textgym page: " + e);
    window.textgymReady = true;
  });
})();
"""


def plotly_bundle_b64() -> str:
    """plotly.js from the ``plotly`` package (the ``[html]`` extra), gzipped and base64'd:
    1.9 MB in the page instead of 4.8 MB; the page unpacks it with the browser's own
    DecompressionStream, so nothing is fetched."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise ImportError(
            "the leaderboard page inlines plotly.js from the plotly package: "
            "pip install 'textgym[html]'"
        ) from None
    packed = gzip.compress(get_plotlyjs().encode("utf-8"), compresslevel=9, mtime=0)
    return base64.b64encode(packed).decode("ascii")
