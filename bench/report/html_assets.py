"""The leaderboard site's page shell: inline CSS and the table-sorting script.

Everything a page needs is inside it (or a PNG beside it), so the folder can be opened
from disk, served by any static server or attached to a message, with no network.

Sorting: clicking a column's header sorts the table on it, a second click reverses. A
column whose every filled cell starts with a number ("2.32M", "113.16 [112.0, 114.3]",
"1,234") sorts by that number with its K/M/B/T suffix; other columns sort as text with
digits compared as numbers. Empty cells always go last. The order is kept in the URL
fragment, ``#sort=test ppl`` or ``#sort=test ppl&desc``, so a link opens sorted.
"""

from __future__ import annotations

from html import escape

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 120em;
       padding: 0 1em; color: #1b1b1b; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
nav { font-size: 0.9em; margin-bottom: 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #f2f2f2; white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { background: #e4e4e4; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num { text-align: right; white-space: nowrap; }
td.long { font-size: 0.9em; min-width: 26em; color: #444; }
tr.reference td { color: #555; background: #fbfbf6; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #e0e0e0; margin: 0.5em 0; }
.muted { color: #666; font-size: 0.9em; }
"""

SORT_SCRIPT = r"""
(function () {
  var SUFFIX = {K: 1e3, M: 1e6, B: 1e9, T: 1e12};
  var NUMBER = /^(-?\d[\d,]*(?:\.\d+)?)\s*([KMBT])?(?=$|[\s\[(±])/;
  function number(text) {
    var m = NUMBER.exec(text.trim());
    return m ? parseFloat(m[1].replace(/,/g, "")) * (SUFFIX[m[2]] || 1) : null;
  }
  function sortTable(table, column, descending) {
    var headers = table.tHead.rows[0].cells, index = -1;
    for (var i = 0; i < headers.length; i++) {
      var name = headers[i].getAttribute("data-column");
      headers[i].removeAttribute("aria-sort");
      if (name.toLowerCase() === column.toLowerCase()) index = i;
    }
    if (index < 0) return false;
    headers[index].setAttribute("aria-sort", descending ? "descending" : "ascending");
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var texts = rows.map(function (r) { return r.cells[index].textContent.trim(); });
    var numeric = texts.every(function (t) { return t === "" || number(t) !== null; });
    var order = rows.map(function (row, position) { return position; });
    order.sort(function (a, b) {
      var x = texts[a], y = texts[b];
      if (x === "" || y === "") return (x === "") - (y === "") || a - b;
      var c = numeric ? number(x) - number(y)
                      : x.localeCompare(y, undefined, {numeric: true, sensitivity: "base"});
      return (descending ? -c : c) || a - b;
    });
    order.forEach(function (position) { body.appendChild(rows[position]); });
    return true;
  }
  function fromFragment() {
    var parts = decodeURIComponent(location.hash.replace(/^#/, "")).split("&");
    if (parts[0].indexOf("sort=") !== 0) return;
    var table = document.querySelector("table.sortable");
    if (table) sortTable(table, parts[0].slice(5), parts.indexOf("desc") > 0);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.querySelector("table.sortable");
    if (!table) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () {
        var descending = th.getAttribute("aria-sort") === "ascending";
        var column = th.getAttribute("data-column");
        sortTable(table, column, descending);
        history.replaceState(null, "", "#sort=" + encodeURIComponent(column) +
                             (descending ? "&desc" : ""));
      });
    });
    fromFragment();
  });
  window.addEventListener("hashchange", fromFragment);
})();
"""


def page(title: str, body: str, *, sortable: bool = False) -> str:
    """A complete HTML page: ``body`` is markup already escaped by the caller."""
    script = f"<script>{SORT_SCRIPT}</script>\n" if sortable else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n{script}</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
