"""The leaderboard site's page shell: inline CSS, the table-sorting and the filter script.

Everything a page needs is inside it (or a PNG beside it), so the folder can be opened
from disk, served by any static server or attached to a message, with no network.

Sorting: clicking a column's header sorts the table on it, a second click reverses. A
column whose every filled cell starts with a number ("2.32M", "113.16 [112.0, 114.3]",
"1,234") sorts by that number with its K/M/B/T suffix; other columns sort as text with
digits compared as numbers. Empty cells always go last. The order is kept in the URL
fragment, ``#sort=test ppl`` or ``#sort=test ppl&desc``, so a link opens sorted.

Filters: two menus above the table show only the measured or the published rows, or one
model family's (the rows' ``data-kind`` and ``data-family``); sorting keeps them.
"""

from __future__ import annotations

from html import escape

CSS = """
:root { --ink: #1b1b1b; --muted: #5f6368; --line: #dcdcdc; --tint: #eef5fb; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.2em auto;
       max-width: 84em; padding: 0 1.2em; color: var(--ink); }
h1 { font-size: 1.55em; margin: 0.2em 0 0.3em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
nav { font-size: 0.9em; margin-bottom: 0.8em; }
a { color: #0b57d0; }
.muted { color: var(--muted); font-size: 0.9em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.88em; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 0.35em 0.55em; vertical-align: top;
         text-align: left; }
th { background: #f4f4f4; white-space: nowrap; font-weight: 600; position: sticky; top: 0; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:hover { background: #e6e6e6; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.name { min-width: 16em; }
.spread { display: block; color: var(--muted); font-size: 0.82em; }
tr.measured td { background: var(--tint); }
tr.reference td { color: #333; }
tr[hidden] { display: none; }
.badge { font-size: 0.72em; background: #0b57d0; color: #fff; border-radius: 3px;
         padding: 0 0.35em; margin-left: 0.45em; vertical-align: 0.1em; }
.dot { display: inline-block; width: 0.7em; height: 0.7em; border-radius: 50%;
       margin-right: 0.45em; vertical-align: 0; }
summary { cursor: pointer; }
details dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 0.8em;
             margin: 0.4em 0 0.2em 1.2em; font-size: 0.92em; color: #333; }
details dt { color: var(--muted); } details dd { margin: 0; overflow-wrap: anywhere; }
code { font-size: 0.92em; background: #f3f3f3; padding: 0 0.2em; border-radius: 2px;
       overflow-wrap: anywhere; }
pre { background: #f6f6f6; padding: 0.7em; overflow-x: auto; font-size: 0.85em;
      white-space: pre-wrap; overflow-wrap: anywhere; }
img { max-width: 100%; height: auto; border: 1px solid #e6e6e6; margin: 0.5em 0; }
.filters { margin: 0.8em 0; font-size: 0.92em; }
.filters label { margin-right: 1em; }
.filters select { font: inherit; padding: 0.1em 0.3em; }
figure { margin: 0.8em 0 1.2em; }
figcaption { font-size: 0.85em; color: var(--muted); }
figcaption .key b { color: var(--ink); font-weight: normal; margin: 0 0.2em 0 0.6em; }
figcaption i { display: inline-block; width: 0.75em; height: 0.75em; border-radius: 50%;
               margin: 0 0.3em 0 0.8em; vertical-align: -0.05em; }
.chart-box { overflow-x: auto; }
svg.chart { width: 100%; max-width: 58em; min-width: 34em; height: auto; display: block;
            font-family: system-ui, sans-serif; }
svg .grid { stroke: #e8e8e8; } svg .axis { stroke: #999; }
svg .tick { font-size: 11px; fill: #666; } svg .axis-label { font-size: 12px; fill: #444; }
svg .label { font-size: 11px; fill: #333; }
svg .published { fill: #fff; stroke-width: 1.6; }
svg .measured { stroke: #fff; stroke-width: 1.2; }
svg .sota { fill: none; stroke: #999; stroke-dasharray: 4 3; }
svg .link { stroke: #888; stroke-width: 1; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(34em, 100%), 1fr));
          gap: 0 1.5em; }
#headlines td.name { min-width: 8em; font-weight: 600; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em;
         font-size: 0.9em; } .facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; font-family: ui-monospace, monospace; }
@media (max-width: 760px) {
  body { padding: 0 0.6em; font-size: 14px; }
  .wide { display: none; }
  td.name { min-width: 10em; }
}
"""

FILTER_SCRIPT = r"""
(function () {
  function apply() {
    var kind = document.getElementById("kind-filter").value;
    var family = document.getElementById("family-filter").value;
    var rows = document.querySelectorAll("#leaderboard tbody tr"), shown = 0;
    Array.prototype.forEach.call(rows, function (row) {
      var keep = (!kind || row.getAttribute("data-kind") === kind) &&
                 (!family || row.getAttribute("data-family") === family);
      row.hidden = !keep;
      shown += keep ? 1 : 0;
    });
    document.getElementById("shown-count").textContent =
      shown + " of " + rows.length + " rows";
  }
  document.addEventListener("DOMContentLoaded", function () {
    ["kind-filter", "family-filter"].forEach(function (id) {
      var select = document.getElementById(id);
      if (select) select.addEventListener("change", apply);
    });
    if (document.getElementById("kind-filter")) apply();
  });
})();
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
    script = f"<script>{SORT_SCRIPT}{FILTER_SCRIPT}</script>\n" if sortable else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n{script}</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
